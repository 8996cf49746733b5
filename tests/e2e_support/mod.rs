//! The harness of the end-to-end tests (`tests/e2e.rs`): a real terminal
//! (a private tmux server running bash) that records every screen and every
//! byte written to it, `hearth sandbox` as a child process with the real
//! `kubectl`, `git` and `curl` pointed at it, and the checks the tests share
//! (terminal restored, no token anywhere). Runs on the test threads; every
//! resource is released by a Drop guard, also when a test fails.

use std::cell::RefCell;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary under test, built by cargo for this test target.
pub const HEARTH: &str = env!("CARGO_BIN_EXE_hearth");
/// How long anything may take to show up. Generous: the build box is a loaded
/// 2-core machine, and a timeout only costs time when something is broken.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// How often screens and commands are polled while waiting.
pub const POLL: Duration = Duration::from_millis(150);

/// Fail with a clear message when a tool the tests drive is not installed.
pub fn require(tool: &str, version_args: &[&str]) {
    let found = Command::new(tool)
        .args(version_args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "the end-to-end tests need `{tool}` on PATH (Debian: apt-get install {tool}; \
         .ci/run installs it)"
    );
}

/// Quote a string for a POSIX shell.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Run a command to completion; panics with its output when it cannot start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Run a command that must succeed; returns its stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Poll `probe` until it returns `Some`, or panic after `timeout` with `what`
/// and the last thing seen.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> (Option<T>, String),
) -> T {
    let start = Instant::now();
    loop {
        let (found, seen) = probe();
        if let Some(found) = found {
            return found;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}; last seen:\n{seen}");
        }
        std::thread::sleep(POLL);
    }
}

/// Send a signal to a process with the real `kill` command.
pub fn signal(pid: u32, sig: &str) {
    run_ok(
        Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string()),
    );
}

/// Whether `pid` is alive and runs `needle` (guards against a reused pid).
pub fn alive_running(pid: u32, needle: &str) -> bool {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains(needle))
        .unwrap_or(false)
}

/// A private tmux server with one session running an interactive bash, sized
/// like a real terminal. Everything written to the pane is also logged raw
/// (escape sequences included) to `raw.log`, and every captured screen is
/// kept, so a test can search all of it for a secret. Drop kills whatever
/// the shell started and the server.
pub struct Term {
    pub socket: PathBuf,
    pub session: String,
    pub dir: PathBuf,
    pub raw_log: PathBuf,
    pub screens: RefCell<Vec<String>>,
}

impl Term {
    /// Start a terminal of `width` x `height` in `dir` whose shell has `env`
    /// (and none of the outer session's GitHub, kube or hearth variables).
    pub fn start(
        dir: &Path,
        name: &str,
        width: u16,
        height: u16,
        env: &[(String, String)],
    ) -> Term {
        require("tmux", &["-V"]);
        let session = format!("e2e-{name}-{}", std::process::id());
        let mut script = String::from(
            "unset GH_TOKEN GITHUB_TOKEN GITHUB_API_URL KUBECONFIG HEARTH_SERVICES \
             HEARTH_SANDBOX_URL HEARTH_POLL_IDLE_SECS HEARTH_POLL_ACTIVE_MS NO_COLOR HISTFILE\n",
        );
        for (k, v) in env {
            script.push_str(&format!("export {k}={}\n", sh_quote(v)));
        }
        script.push_str("export PS1='e2e$ '\nexec bash --norc --noprofile -i\n");
        let shell = dir.join(format!("{name}-shell.sh"));
        fs::write(&shell, script).unwrap();
        let term = Term {
            socket: dir.join(format!("{name}.tmux")),
            session,
            dir: dir.to_path_buf(),
            raw_log: dir.join(format!("{name}-raw.log")),
            screens: RefCell::new(Vec::new()),
        };
        run_ok(term.tmux().args([
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            &term.session,
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            &format!(
                "bash --norc --noprofile {}",
                sh_quote(&shell.to_string_lossy())
            ),
        ]));
        run_ok(term.tmux().args([
            "pipe-pane",
            "-t",
            &term.session,
            "-o",
            &format!("cat >> {}", sh_quote(&term.raw_log.to_string_lossy())),
        ]));
        term.wait_screen("the shell prompt", |s| s.contains("e2e$"));
        term
    }

    pub fn tmux(&self) -> Command {
        let mut cmd = Command::new("tmux");
        // -u: the pane speaks UTF-8 whatever the test's locale (box drawing).
        cmd.arg("-u").arg("-S").arg(&self.socket);
        cmd
    }

    /// Type a command line and press Enter.
    pub fn type_line(&self, line: &str) {
        run_ok(
            self.tmux()
                .args(["send-keys", "-t", &self.session, "-l", line]),
        );
        self.keys(&["Enter"]);
    }

    /// Press keys, named as tmux names them (`j`, `Enter`, `Escape`, `C-c`).
    pub fn keys(&self, keys: &[&str]) {
        run_ok(
            self.tmux()
                .args(["send-keys", "-t", &self.session])
                .args(keys),
        );
    }

    /// The visible screen as text (wrapped lines joined).
    pub fn screen(&self) -> String {
        let s = run_ok(
            self.tmux()
                .args(["capture-pane", "-p", "-J", "-t", &self.session]),
        );
        self.screens.borrow_mut().push(s.clone());
        s
    }

    /// The visible screen with its SGR escape sequences (to see reverse video).
    pub fn screen_styled(&self) -> String {
        let s = run_ok(
            self.tmux()
                .args(["capture-pane", "-p", "-e", "-t", &self.session]),
        );
        self.screens.borrow_mut().push(s.clone());
        s
    }

    /// A tmux format about the pane, e.g. `#{alternate_on}`.
    pub fn pane(&self, format: &str) -> String {
        run_ok(
            self.tmux()
                .args(["display-message", "-p", "-t", &self.session, format]),
        )
        .trim()
        .to_string()
    }

    pub fn alternate_screen(&self) -> bool {
        self.pane("#{alternate_on}") == "1"
    }

    /// Wait until the screen satisfies `pred`; returns that screen.
    pub fn wait_screen(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        wait_for(what, TIMEOUT, || {
            let s = self.screen();
            (pred(&s).then(|| s.clone()), s)
        })
    }

    /// Run `program` in the foreground of the shell the way a person types
    /// it, then report its exit code and the terminal state on one line that
    /// starts with `marker`. Returns the pid file the program's pid lands in.
    pub fn launch(&self, marker: &str, program: &str) -> PathBuf {
        let after = self.dir.join("after.sh");
        if !after.exists() {
            // Sourced after the program: $1 is its exit code, $2 the marker.
            // `stty -g` against the baseline taken before it ran, and the
            // flags a usable shell needs spelled out.
            fs::write(
                &after,
                "rc=$1\n\
                 if [ \"$(stty -g)\" = \"$E2E_STTY\" ]; then tty=same; else tty=changed; fi\n\
                 flags=$(stty -a | tr ' ;' '\\n\\n' | grep -xE -- '-?(icanon|echo|isig|icrnl|opost)' | tr '\\n' ' ')\n\
                 echo \"$2 EXITED:$rc STTY:$tty FLAGS: $flags\"\n",
            )
            .unwrap();
        }
        let pid_file = self.dir.join(format!("{marker}.pid"));
        let launcher = self.dir.join(format!("{marker}.sh"));
        fs::write(
            &launcher,
            format!(
                "echo $$ > {}\nexec {program}\n",
                sh_quote(&pid_file.to_string_lossy())
            ),
        )
        .unwrap();
        self.type_line(&format!(
            "E2E_STTY=$(stty -g); sh {}; . {} $? {marker}",
            sh_quote(&launcher.to_string_lossy()),
            sh_quote(&after.to_string_lossy())
        ));
        pid_file
    }

    /// Wait for the line [`Term::launch`] prints when the program is done.
    pub fn wait_exit(&self, marker: &str) -> ExitReport {
        let needle = format!("{marker} EXITED:");
        let screen = self.wait_screen(&format!("{marker} to exit"), |s| s.contains(&needle));
        let line = screen
            .lines()
            .find(|l| l.contains(&needle))
            .unwrap()
            .to_string();
        let code = line
            .split("EXITED:")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no exit code in {line:?}"));
        let flags = line
            .split("FLAGS:")
            .nth(1)
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_string)
            .collect();
        ExitReport {
            code,
            tty_same: line.contains("STTY:same"),
            flags,
            line,
            screen,
        }
    }

    /// Resize the terminal, as a person dragging the window would.
    pub fn resize(&self, width: u16, height: u16) {
        run_ok(self.tmux().args([
            "resize-window",
            "-t",
            &self.session,
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
        ]));
    }

    /// Type text literally, without pressing Enter.
    pub fn type_literal(&self, text: &str) {
        run_ok(
            self.tmux()
                .args(["send-keys", "-t", &self.session, "-l", text]),
        );
    }

    /// Everything this terminal showed or was sent, for the secret check.
    pub fn everything_shown(&self) -> String {
        let mut all = self.screens.borrow().join("\n");
        all.push_str(&String::from_utf8_lossy(
            &fs::read(&self.raw_log).unwrap_or_default(),
        ));
        all
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        // Whatever a test launched and left running (a failed assertion
        // midway): kill it by pid, then the tmux server with its shell.
        if let Ok(entries) = fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                if entry.path().extension().is_some_and(|e| e == "pid") {
                    let pid = fs::read_to_string(entry.path()).unwrap_or_default();
                    if let Ok(pid) = pid.trim().parse::<u32>() {
                        if alive_running(pid, "hearth") || alive_running(pid, "e2e") {
                            let _ = Command::new("kill")
                                .arg("-KILL")
                                .arg(pid.to_string())
                                .status();
                        }
                    }
                }
            }
        }
        let _ = self
            .tmux()
            .arg("kill-server")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// What [`Term::launch`]'s after-script reported.
#[derive(Debug)]
pub struct ExitReport {
    pub code: i32,
    /// `stty -g` equals what it was before the program ran.
    pub tty_same: bool,
    /// `icanon`, `-echo`, ... as `stty -a` printed them.
    pub flags: Vec<String>,
    pub line: String,
    pub screen: String,
}

impl ExitReport {
    /// The program exited with `code` and left the terminal as it found it:
    /// line editing and echo on, the normal screen back, the cursor shown.
    pub fn assert_restored(&self, term: &Term, code: i32) {
        assert_eq!(self.code, code, "exit code; {}\n{}", self.line, self.screen);
        for flag in ["icanon", "echo", "isig", "icrnl", "opost"] {
            assert!(
                self.flags.iter().any(|f| f == flag),
                "stty -a lacks `{flag}` after exit: {}\n{}",
                self.line,
                self.screen
            );
        }
        assert!(
            self.tty_same,
            "stty -g changed across the run: {}",
            self.line
        );
        assert!(!term.alternate_screen(), "still on the alternate screen");
        assert_eq!(term.pane("#{cursor_flag}"), "1", "cursor left hidden");
        assert_eq!(
            term.pane("#{mouse_any_flag}"),
            "0",
            "mouse reporting left on"
        );
        assert!(
            !self.screen.contains("? help"),
            "the control room's status bar is still on the screen:\n{}",
            self.screen
        );
    }
}

/// Read a pid file written by [`Term::launch`] (waiting for it).
pub fn read_pid(pid_file: &Path) -> u32 {
    wait_for("the program's pid file", TIMEOUT, || {
        let text = fs::read_to_string(pid_file).unwrap_or_default();
        (text.trim().parse().ok(), text)
    })
}

/// Tag a working clone's HEAD with real git and push the tag to its origin.
pub fn tag_and_push(repo: &Path, tag: &str) {
    run_ok(Command::new("git").arg("-C").arg(repo).args(["tag", tag]));
    run_ok(
        Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(["push", "-q", "origin", tag]),
    );
}

/// `hearth sandbox --dir DIR/sb --speed 10` as a child process, and the
/// environment it exported. Drop stops it with SIGTERM (SIGKILL if it hangs).
pub struct Sandbox {
    pub child: Child,
    pub dir: PathBuf,
    pub env: Vec<(String, String)>,
}

impl Sandbox {
    pub fn start(scratch: &Path) -> Sandbox {
        require("kubectl", &["version", "--client"]);
        require("git", &["--version"]);
        require("curl", &["--version"]);
        let dir = scratch.join("sb");
        let child = Command::new(HEARTH)
            .args(["sandbox", "--dir"])
            .arg(&dir)
            .args(["--speed", "10"])
            .env_remove("HEARTH_SERVICES")
            .env("XDG_STATE_HOME", scratch.join("sandbox-state"))
            .stdin(Stdio::null())
            .stdout(fs::File::create(scratch.join("sandbox.out")).unwrap())
            .stderr(fs::File::create(scratch.join("sandbox.err")).unwrap())
            .spawn()
            .expect("cannot start `hearth sandbox`");
        let mut sandbox = Sandbox {
            child,
            dir: dir.clone(),
            env: Vec::new(),
        };
        // DIR/env is written last: once it names every variable, all is ready.
        let keys = [
            "KUBECONFIG",
            "GITHUB_API_URL",
            "GH_TOKEN",
            "HEARTH_SERVICES",
            "HEARTH_SANDBOX_URL",
        ];
        let env = wait_for("the sandbox's DIR/env", TIMEOUT, || {
            if let Ok(Some(status)) = sandbox.child.try_wait() {
                panic!(
                    "hearth sandbox exited early ({status}): {}",
                    fs::read_to_string(scratch.join("sandbox.err")).unwrap_or_default()
                );
            }
            let text = fs::read_to_string(dir.join("env")).unwrap_or_default();
            let env: Vec<(String, String)> = text
                .lines()
                .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
                .map(|(k, v)| (k.to_string(), v.trim_matches(['"', '\'']).to_string()))
                .collect();
            let complete = keys.iter().all(|k| env.iter().any(|(n, _)| n == k));
            (complete.then_some(env), text)
        });
        sandbox.env = env;
        sandbox
    }

    pub fn var(&self, key: &str) -> String {
        self.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("the sandbox env has no {key}"))
    }

    /// The shippable services of the sandbox registry, in file order, with
    /// their Deployment name and image repository.
    pub fn services(&self) -> Vec<(String, String, String)> {
        let text = fs::read_to_string(self.var("HEARTH_SERVICES")).unwrap();
        let doc: serde_yaml::Mapping = serde_yaml::from_str(&text).unwrap();
        doc.iter()
            .filter_map(|(k, v)| {
                let name = k.as_str()?;
                let image = v.get("image")?.as_str()?;
                let k8s = v.get("k8s_name").and_then(|n| n.as_str()).unwrap_or(name);
                Some((name.to_string(), k8s.to_string(), image.to_string()))
            })
            .collect()
    }

    /// The real kubectl, pointed at the sandbox.
    pub fn kubectl(&self, args: &[&str]) -> String {
        run_ok(
            Command::new("kubectl")
                .env("KUBECONFIG", self.var("KUBECONFIG"))
                .arg("--request-timeout=10s")
                .args(args),
        )
    }

    /// Tag the service's working clone with real git, push the tag to its
    /// origin, and publish a release for it through the sandbox GitHub API.
    pub fn publish_release(&self, service: &str, tag: &str, prerelease: bool) -> Value {
        tag_and_push(&self.dir.join("repos").join(service), tag);
        let body = serde_json::json!({"tag_name": tag, "name": tag, "prerelease": prerelease});
        let out = self.curl(
            "POST",
            &format!(
                "{}/repos/hearth-demo/{service}/releases",
                self.var("GITHUB_API_URL")
            ),
            Some(&body.to_string()),
            true,
        );
        let (status, json) = out;
        assert_eq!(status, 201, "create release {tag}: {json}");
        json
    }

    /// A request with the real curl; returns the status and the JSON body
    /// (Null when there is none).
    pub fn curl(&self, method: &str, url: &str, body: Option<&str>, auth: bool) -> (u16, Value) {
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "-X", method, "-w", "\n%{http_code}", url]);
        cmd.args(["-H", "Accept: application/vnd.github+json"]);
        if auth {
            cmd.args([
                "-H",
                &format!("Authorization: Bearer {}", self.var("GH_TOKEN")),
            ]);
        }
        if let Some(body) = body {
            cmd.args(["-H", "Content-Type: application/json", "-d", body]);
        }
        // Not run_ok: its failure message prints the arguments, token included.
        let out = run(&mut cmd);
        assert!(
            out.status.success(),
            "curl -X {method} {url} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let out = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, status) = out.trim_end().rsplit_once('\n').unwrap_or(("", out.trim()));
        let status = status.parse().unwrap_or(0);
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    /// `hearth status ARGS` against the sandbox; stdout and stderr are kept in
    /// `seen` for the secret check.
    pub fn hearth_status(&self, state: &Path, args: &[&str], seen: &mut String) -> Output {
        let out = run(Command::new(HEARTH)
            .arg("status")
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("XDG_STATE_HOME", state)
            .env("NO_COLOR", "1"));
        seen.push_str(&String::from_utf8_lossy(&out.stdout));
        seen.push_str(&String::from_utf8_lossy(&out.stderr));
        out
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The example registry at the project root.
pub fn example_registry() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("services.yaml")
}

/// Environment for a control room with no cluster and no token: the example
/// registry, a kubeconfig that does not exist, logs in `state`.
pub fn offline_env(scratch: &Path, state: &Path) -> Vec<(String, String)> {
    vec![
        ("NO_COLOR".into(), "1".into()),
        (
            "XDG_STATE_HOME".into(),
            state.to_string_lossy().into_owned(),
        ),
        (
            "KUBECONFIG".into(),
            scratch.join("no-kubeconfig").to_string_lossy().into_owned(),
        ),
    ]
}

pub use crate::support::{cell, qa_cell, row};

/// The service on the reverse-video (selected) overview row, from a styled capture.
pub fn selected_service(styled: &str) -> Option<String> {
    styled
        .lines()
        .filter(|l| l.contains("[7m") || l.contains(";7m"))
        .map(strip_ansi)
        .find_map(|l| {
            let first = l.trim_start_matches(['│', ' ']).split_whitespace().next()?;
            Some(first.to_string())
        })
}

pub fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ params final-byte
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The image tag of a Deployment's container whose image repository is `image`.
pub fn tag_of(deploy: &Value, image: &str) -> Option<String> {
    deploy["spec"]["template"]["spec"]["containers"]
        .as_array()?
        .iter()
        .filter_map(|c| c["image"].as_str())
        .find_map(|i| i.strip_prefix(image)?.strip_prefix(':'))
        .map(str::to_string)
}

/// Assert that `secret` appears nowhere in `text` (named `what`), without
/// ever printing the secret itself.
/// Pieces count: any 8-character run of the secret's random part (a token
/// cut short in a cell, or split across two lines, still leaks).
pub fn assert_no_secret(secret: &str, what: &str, text: &str) {
    assert!(
        secret.len() >= 16,
        "the sandbox token looks too short to search for"
    );
    assert!(
        !text.contains(secret),
        "the GitHub token appears in {what} (at byte {})",
        text.find(secret).unwrap_or(0)
    );
    // The sandbox's tokens are a public prefix (`ghs_sandbox`, `ghcr-sandbox-`)
    // and random hex: runs that reach at least 4 characters into the random
    // part are the secret's pieces.
    let from = secret
        .rfind(|c: char| !c.is_ascii_hexdigit())
        .map(|i| i + 1)
        .unwrap_or(0)
        .saturating_sub(4);
    let chars: Vec<char> = secret.chars().collect();
    for start in from..chars.len().saturating_sub(7) {
        let piece: String = chars[start..start + 8].iter().collect();
        assert!(
            !text.contains(&piece),
            "8 characters of the secret (from its character {start}) appear in {what} (at byte {})",
            text.find(&piece).unwrap_or(0)
        );
    }
}

/// Assert the token is in no file under `dir`; with `expect_log`, also that
/// there is at least one file there (the log), so the check is not vacuous.
pub fn assert_no_secret_in_files(secret: &str, dir: &Path, expect_log: bool) {
    let mut files = 0;
    let mut stack = vec![dir.to_path_buf()];
    if !dir.exists() {
        stack.clear();
    }
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files += 1;
                let bytes = fs::read(&path).unwrap();
                assert_no_secret(
                    secret,
                    &path.display().to_string(),
                    &String::from_utf8_lossy(&bytes),
                );
            }
        }
    }
    assert!(
        !expect_log || files > 0,
        "no log file under {}",
        dir.display()
    );
}

/// The environment of a hearth run against `sandbox`: its variables,
/// NO_COLOR, logs and journal in `state`, and GitHub polled every second
/// instead of every 30 s when idle, so a release shows within the tests'
/// patience (documented tunables).
pub fn live_env(sandbox: &Sandbox, state: &Path) -> Vec<(String, String)> {
    let mut env = sandbox.env.clone();
    env.push(("NO_COLOR".into(), "1".into()));
    env.push((
        "XDG_STATE_HOME".into(),
        state.to_string_lossy().into_owned(),
    ));
    env.push(("HEARTH_POLL_IDLE_SECS".into(), "1".into()));
    env.push(("HEARTH_POLL_ACTIVE_MS".into(), "200".into()));
    env
}

/// Open the control room (160x45, NO_COLOR, logs in `scratch/state`) on a
/// fresh sandbox with fast GitHub polling, and wait until every source is live.
/// Returns the sandbox, the terminal and the state folder; bound in that
/// order they drop in reverse, so the control room ends before the sandbox.
pub fn live_session(scratch: &Path, name: &str) -> (Sandbox, Term, PathBuf) {
    let state = scratch.join("state");
    let sandbox = Sandbox::start(scratch);
    let env = live_env(&sandbox, &state);
    let term = Term::start(scratch, name, 160, 45, &env);
    term.launch("LIVE", HEARTH);
    term.wait_screen("the control room with live sources", |s| {
        s.contains("k8s default live") && s.contains("k8s qa live") && s.contains("github live")
    });
    (sandbox, term, state)
}
