//! End-to-end tests: the real `hearth` binary driven the way a person drives
//! it — in a real terminal (a private tmux server), against the embedded
//! sandbox served by `hearth sandbox` as a child process, with the real
//! `kubectl`, `git` and `curl` changing things behind its back. Run by
//! `cargo test --test e2e`; every test cleans up its tmux server and child
//! processes through Drop guards, also when it fails.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hearth::app::run::run_with;
use hearth::app::Mode;
use hearth::cli::GlobalOpts;
use serde_json::Value;

/// The binary under test, built by cargo for this test target.
const HEARTH: &str = env!("CARGO_BIN_EXE_hearth");
/// How long anything may take to show up. Generous: the build box is a loaded
/// 2-core machine, and a timeout only costs time when something is broken.
const TIMEOUT: Duration = Duration::from_secs(30);
/// How often screens and commands are polled while waiting.
const POLL: Duration = Duration::from_millis(150);
/// Set in the environment of a re-executed test binary to turn the
/// [`helper_panicking_control_room`] test into a control room that panics.
const PANIC_TRIGGER_VAR: &str = "HEARTH_E2E_PANIC_TRIGGER";

// ---------------------------------------------------------------------------
// Helpers: tools, a terminal (tmux), the sandbox, commands.
// ---------------------------------------------------------------------------

/// Fail with a clear message when a tool the tests drive is not installed.
fn require(tool: &str, version_args: &[&str]) {
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
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Run a command to completion; panics with its output when it cannot start.
fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Run a command that must succeed; returns its stdout.
fn run_ok(cmd: &mut Command) -> String {
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
fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> (Option<T>, String)) -> T {
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
fn signal(pid: u32, sig: &str) {
    run_ok(
        Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string()),
    );
}

/// Whether `pid` is alive and runs `needle` (guards against a reused pid).
fn alive_running(pid: u32, needle: &str) -> bool {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains(needle))
        .unwrap_or(false)
}

/// A private tmux server with one session running an interactive bash, sized
/// like a real terminal. Everything written to the pane is also logged raw
/// (escape sequences included) to `raw.log`, and every captured screen is
/// kept, so a test can search all of it for a secret. Drop kills whatever
/// the shell started and the server.
struct Term {
    socket: PathBuf,
    session: String,
    dir: PathBuf,
    raw_log: PathBuf,
    screens: RefCell<Vec<String>>,
}

impl Term {
    /// Start a terminal of `width` x `height` in `dir` whose shell has `env`
    /// (and none of the outer session's GitHub, kube or hearth variables).
    fn start(dir: &Path, name: &str, width: u16, height: u16, env: &[(String, String)]) -> Term {
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

    fn tmux(&self) -> Command {
        let mut cmd = Command::new("tmux");
        // -u: the pane speaks UTF-8 whatever the test's locale (box drawing).
        cmd.arg("-u").arg("-S").arg(&self.socket);
        cmd
    }

    /// Type a command line and press Enter.
    fn type_line(&self, line: &str) {
        run_ok(
            self.tmux()
                .args(["send-keys", "-t", &self.session, "-l", line]),
        );
        self.keys(&["Enter"]);
    }

    /// Press keys, named as tmux names them (`j`, `Enter`, `Escape`, `C-c`).
    fn keys(&self, keys: &[&str]) {
        run_ok(
            self.tmux()
                .args(["send-keys", "-t", &self.session])
                .args(keys),
        );
    }

    /// The visible screen as text (wrapped lines joined).
    fn screen(&self) -> String {
        let s = run_ok(
            self.tmux()
                .args(["capture-pane", "-p", "-J", "-t", &self.session]),
        );
        self.screens.borrow_mut().push(s.clone());
        s
    }

    /// The visible screen with its SGR escape sequences (to see reverse video).
    fn screen_styled(&self) -> String {
        let s = run_ok(
            self.tmux()
                .args(["capture-pane", "-p", "-e", "-t", &self.session]),
        );
        self.screens.borrow_mut().push(s.clone());
        s
    }

    /// A tmux format about the pane, e.g. `#{alternate_on}`.
    fn pane(&self, format: &str) -> String {
        run_ok(
            self.tmux()
                .args(["display-message", "-p", "-t", &self.session, format]),
        )
        .trim()
        .to_string()
    }

    fn alternate_screen(&self) -> bool {
        self.pane("#{alternate_on}") == "1"
    }

    /// Wait until the screen satisfies `pred`; returns that screen.
    fn wait_screen(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        wait_for(what, TIMEOUT, || {
            let s = self.screen();
            (pred(&s).then(|| s.clone()), s)
        })
    }

    /// Run `program` in the foreground of the shell the way a person types
    /// it, then report its exit code and the terminal state on one line that
    /// starts with `marker`. Returns the pid file the program's pid lands in.
    fn launch(&self, marker: &str, program: &str) -> PathBuf {
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
    fn wait_exit(&self, marker: &str) -> ExitReport {
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

    /// Everything this terminal showed or was sent, for the secret check.
    fn everything_shown(&self) -> String {
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
struct ExitReport {
    code: i32,
    /// `stty -g` equals what it was before the program ran.
    tty_same: bool,
    /// `icanon`, `-echo`, ... as `stty -a` printed them.
    flags: Vec<String>,
    line: String,
    screen: String,
}

impl ExitReport {
    /// The program exited with `code` and left the terminal as it found it:
    /// line editing and echo on, the normal screen back, the cursor shown.
    fn assert_restored(&self, term: &Term, code: i32) {
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
fn read_pid(pid_file: &Path) -> u32 {
    wait_for("the program's pid file", TIMEOUT, || {
        let text = fs::read_to_string(pid_file).unwrap_or_default();
        (text.trim().parse().ok(), text)
    })
}

/// `hearth sandbox --dir DIR/sb --speed 10` as a child process, and the
/// environment it exported. Drop stops it with SIGTERM (SIGKILL if it hangs).
struct Sandbox {
    child: Child,
    dir: PathBuf,
    env: Vec<(String, String)>,
}

impl Sandbox {
    fn start(scratch: &Path) -> Sandbox {
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

    fn var(&self, key: &str) -> String {
        self.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("the sandbox env has no {key}"))
    }

    /// The shippable services of the sandbox registry, in file order, with
    /// their Deployment name and image repository.
    fn services(&self) -> Vec<(String, String, String)> {
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
    fn kubectl(&self, args: &[&str]) -> String {
        run_ok(
            Command::new("kubectl")
                .env("KUBECONFIG", self.var("KUBECONFIG"))
                .arg("--request-timeout=10s")
                .args(args),
        )
    }

    /// Tag the service's working clone with real git, push the tag to its
    /// origin, and publish a release for it through the sandbox GitHub API.
    fn publish_release(&self, service: &str, tag: &str, prerelease: bool) -> Value {
        let repo = self.dir.join("repos").join(service);
        run_ok(Command::new("git").arg("-C").arg(&repo).args(["tag", tag]));
        run_ok(
            Command::new("git")
                .arg("-C")
                .arg(&repo)
                .args(["push", "-q", "origin", tag]),
        );
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
    fn curl(&self, method: &str, url: &str, body: Option<&str>, auth: bool) -> (u16, Value) {
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
        let out = run_ok(&mut cmd);
        let (body, status) = out.trim_end().rsplit_once('\n').unwrap_or(("", out.trim()));
        let status = status.parse().unwrap_or(0);
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    /// `hearth status ARGS` against the sandbox; stdout and stderr are kept in
    /// `seen` for the secret check.
    fn hearth_status(&self, state: &Path, args: &[&str], seen: &mut String) -> Output {
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
fn example_registry() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("services.yaml")
}

/// Environment for a control room with no cluster and no token: the example
/// registry, a kubeconfig that does not exist, logs in `state`.
fn offline_env(scratch: &Path, state: &Path) -> Vec<(String, String)> {
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

/// The overview row of `service` (the line whose first cell is its name).
fn row<'a>(screen: &'a str, service: &str) -> Option<&'a str> {
    screen.lines().find(|l| {
        l.trim_start_matches(['│', ' '])
            .strip_prefix(service)
            .is_some_and(|rest| rest.starts_with(' '))
    })
}

/// The service on the reverse-video (selected) overview row, from a styled capture.
fn selected_service(styled: &str) -> Option<String> {
    styled
        .lines()
        .filter(|l| l.contains("[7m") || l.contains(";7m"))
        .map(strip_ansi)
        .find_map(|l| {
            let first = l.trim_start_matches(['│', ' ']).split_whitespace().next()?;
            Some(first.to_string())
        })
}

fn strip_ansi(s: &str) -> String {
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
fn tag_of(deploy: &Value, image: &str) -> Option<String> {
    deploy["spec"]["template"]["spec"]["containers"]
        .as_array()?
        .iter()
        .filter_map(|c| c["image"].as_str())
        .find_map(|i| i.strip_prefix(image)?.strip_prefix(':'))
        .map(str::to_string)
}

/// Assert that `secret` appears nowhere in `text` (named `what`), without
/// ever printing the secret itself.
fn assert_no_secret(secret: &str, what: &str, text: &str) {
    assert!(
        secret.len() >= 16,
        "the sandbox token looks too short to search for"
    );
    assert!(
        !text.contains(secret),
        "the GitHub token appears in {what} (at byte {})",
        text.find(secret).unwrap_or(0)
    );
}

/// Assert the token is in no file under `dir`; with `expect_log`, also that
/// there is at least one file there (the log), so the check is not vacuous.
fn assert_no_secret_in_files(secret: &str, dir: &Path, expect_log: bool) {
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

// ---------------------------------------------------------------------------
// 1. The terminal is restored however the control room ends.
// ---------------------------------------------------------------------------

/// How a test ends the control room.
enum Ending {
    KeyQ,
    KeyCtrlC,
    Signal(&'static str),
}

/// Open the control room on the example registry in a real terminal, end it
/// with `ending`, and check the shell gets its terminal back.
fn control_room_ends_cleanly(name: &str, ending: Ending) {
    let scratch = tempfile::tempdir().unwrap();
    let state = scratch.path().join("state");
    let term = Term::start(
        scratch.path(),
        name,
        120,
        35,
        &offline_env(scratch.path(), &state),
    );
    let services = sh_quote(&example_registry().to_string_lossy());
    let pid_file = term.launch("RUN", &format!("{HEARTH} --services {services}"));
    let screen = term.wait_screen("the control room with the example services", |s| {
        ["api", "web", "worker", "docs", "? help"]
            .iter()
            .all(|w| s.contains(w))
            && row(s, "api").is_some()
    });
    assert!(
        term.alternate_screen(),
        "the control room is not on the alternate screen:\n{screen}"
    );
    assert_eq!(
        term.pane("#{cursor_flag}"),
        "0",
        "cursor shown while the control room runs"
    );
    // No cluster and no token: said so, not invented.
    assert!(
        screen.contains("github disabled") || screen.contains("no token"),
        "GitHub without a token is not shown as such:\n{screen}"
    );
    let pid = read_pid(&pid_file);
    match ending {
        Ending::KeyQ => term.keys(&["q"]),
        Ending::KeyCtrlC => term.keys(&["C-c"]),
        Ending::Signal(sig) => signal(pid, sig),
    }
    let report = term.wait_exit("RUN");
    report.assert_restored(&term, 0);
    assert!(
        !alive_running(pid, "hearth"),
        "hearth still runs after exit"
    );
}

#[test]
fn q_restores_the_terminal() {
    control_room_ends_cleanly("q", Ending::KeyQ);
}

#[test]
fn ctrl_c_restores_the_terminal() {
    control_room_ends_cleanly("ctrlc", Ending::KeyCtrlC);
}

#[test]
fn sigterm_restores_the_terminal() {
    control_room_ends_cleanly("sigterm", Ending::Signal("TERM"));
}

#[test]
fn sigint_restores_the_terminal() {
    control_room_ends_cleanly("sigint", Ending::Signal("INT"));
}

/// Not a test on its own: when [`PANIC_TRIGGER_VAR`] is set (by
/// [`a_panic_restores_the_terminal`], which re-runs this test binary in a
/// terminal), it opens the real control room through the library's
/// `run_with` and, once the file the variable names exists, panics on a
/// source thread and exits with 101 without unwinding the main thread, so
/// only the panic hook can have restored the terminal. The binary has no
/// way to panic on purpose, and none should be added for a test.
#[test]
fn helper_panicking_control_room() {
    let Some(trigger) = std::env::var_os(PANIC_TRIGGER_VAR) else {
        return;
    };
    let global = GlobalOpts {
        services: example_registry(),
        context: None,
        theme: None,
        log_level: "info".into(),
    };
    let registry = hearth::registry::load(&global.services).expect("example registry");
    let result = run_with(
        &global,
        Arc::new(registry),
        Mode::Interactive,
        move |_ctx| {
            std::thread::spawn(move || {
                while !Path::new(&trigger).exists() {
                    std::thread::sleep(Duration::from_millis(50));
                }
                let _ = std::panic::catch_unwind(|| {
                    panic!("e2e: deliberate panic while the control room runs")
                });
                // Exit as a panicking program does, skipping every destructor:
                // the terminal guard's Drop never runs.
                std::process::exit(101);
            });
        },
    );
    panic!("the control room returned before the deliberate panic: {result:?}");
}

#[test]
fn a_panic_restores_the_terminal() {
    let scratch = tempfile::tempdir().unwrap();
    let state = scratch.path().join("state");
    let trigger = scratch.path().join("panic-now");
    let mut env = offline_env(scratch.path(), &state);
    env.push((
        PANIC_TRIGGER_VAR.into(),
        trigger.to_string_lossy().into_owned(),
    ));
    let term = Term::start(scratch.path(), "panic", 120, 35, &env);
    let me = std::env::current_exe().unwrap();
    term.launch(
        "PANIC",
        &format!(
            "{} --exact helper_panicking_control_room --nocapture --test-threads=1",
            sh_quote(&me.to_string_lossy())
        ),
    );
    let screen = term.wait_screen("the control room before the panic", |s| {
        s.contains("? help") && row(s, "api").is_some()
    });
    assert!(
        term.alternate_screen(),
        "not on the alternate screen:\n{screen}"
    );
    fs::write(&trigger, "").unwrap();
    let report = term.wait_exit("PANIC");
    report.assert_restored(&term, 101);
    assert!(
        report.screen.contains("e2e: deliberate panic"),
        "the panic message is not readable on the restored screen:\n{}",
        report.screen
    );
}

// ---------------------------------------------------------------------------
// 2. Bad input changes nothing.
// ---------------------------------------------------------------------------

#[test]
fn a_malformed_registry_is_reported_without_opening_the_ui() {
    let scratch = tempfile::tempdir().unwrap();
    let state = scratch.path().join("state");
    let typo = scratch.path().join("typo.yaml");
    fs::write(
        &typo,
        "api:\n   directory: api\n   imagee: ghcr.io/acme/api\n   k8s_name: api\n",
    )
    .unwrap();
    let broken = scratch.path().join("broken.yaml");
    fs::write(
        &broken,
        "api:\n  directory: api\n  image: [unclosed\nweb:\n  image: x\n",
    )
    .unwrap();
    let term = Term::start(
        scratch.path(),
        "badinput",
        120,
        35,
        &offline_env(scratch.path(), &state),
    );

    term.launch(
        "TYPO",
        &format!("{HEARTH} --services {}", sh_quote(&typo.to_string_lossy())),
    );
    let report = term.wait_exit("TYPO");
    assert_ne!(
        report.code, 0,
        "a registry with an unknown key was accepted"
    );
    let error = report
        .screen
        .lines()
        .find(|l| l.starts_with("hearth:"))
        .unwrap_or_else(|| panic!("no error line:\n{}", report.screen));
    assert!(
        error.contains("typo.yaml:3"),
        "error does not name file:line 3: {error}"
    );
    assert!(
        error.contains("imagee") && error.contains("`image`"),
        "no suggestion: {error}"
    );

    term.launch(
        "BROKEN",
        &format!(
            "{HEARTH} --services {}",
            sh_quote(&broken.to_string_lossy())
        ),
    );
    let report = term.wait_exit("BROKEN");
    assert_ne!(report.code, 0, "invalid YAML was accepted");
    assert!(
        report.screen.contains("broken.yaml:") && report.screen.contains("invalid YAML"),
        "error does not name the file and say what is wrong:\n{}",
        report.screen
    );
    report.assert_restored(&term, report.code);

    term.launch(
        "THEME",
        &format!(
            "{HEARTH} --services {} --theme no-such-theme",
            sh_quote(&example_registry().to_string_lossy())
        ),
    );
    let report = term.wait_exit("THEME");
    assert_ne!(report.code, 0, "an unknown theme was accepted");
    assert!(
        report.screen.contains("unknown theme 'no-such-theme'"),
        "no clear error for an unknown theme:\n{}",
        report.screen
    );

    // Never on the alternate screen, not even for a moment: the raw pane
    // output has no switch to it.
    let raw = fs::read(&term.raw_log).unwrap();
    let raw = String::from_utf8_lossy(&raw);
    assert!(
        raw.contains("typo.yaml:3"),
        "the raw log missed the error output"
    );
    assert!(
        !raw.contains("\u{1b}[?1049h") && !raw.contains("\u{1b}[?47h"),
        "the alternate screen was entered for a bad registry"
    );
    // And nothing else ran: not even the log folder was created.
    assert!(
        !state.exists(),
        "a bad registry still started logging in {}",
        state.display()
    );

    // Without a terminal (output piped) the control room refuses clearly.
    let out = run(Command::new(HEARTH)
        .arg("--services")
        .arg(example_registry())
        .env("XDG_STATE_HOME", &state)
        .env("KUBECONFIG", scratch.path().join("no-kubeconfig")));
    assert_ne!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("needs a terminal"), "{stderr}");
    assert!(out.stdout.is_empty(), "wrote to a non-terminal stdout");
}

// ---------------------------------------------------------------------------
// 3. The live control room on the sandbox, and 5. no token anywhere.
// ---------------------------------------------------------------------------

#[test]
fn live_control_room_follows_the_cluster_and_ci() {
    let scratch = tempfile::tempdir().unwrap();
    let state = scratch.path().join("state");
    let sandbox = Sandbox::start(scratch.path());
    let services = sandbox.services();
    assert!(
        services.len() >= 2,
        "the sandbox registry has too few services"
    );
    let (svc, deploy, image) = services[0].clone();
    let second = services[1].0.clone();

    let mut env = sandbox.env.clone();
    env.push(("NO_COLOR".into(), "1".into()));
    env.push((
        "XDG_STATE_HOME".into(),
        state.to_string_lossy().into_owned(),
    ));
    // Poll GitHub every second instead of every 30 s when idle, so a release
    // shows within the test's patience (documented tunables).
    env.push(("HEARTH_POLL_IDLE_SECS".into(), "1".into()));
    env.push(("HEARTH_POLL_ACTIVE_MS".into(), "200".into()));
    let term = Term::start(scratch.path(), "live", 160, 45, &env);
    term.launch("LIVE", HEARTH);

    // The prod tag the cluster really runs.
    let prod: Value = serde_json::from_str(
        &sandbox.kubectl(&["get", "deploy", &deploy, "-n", "default", "-o", "json"]),
    )
    .unwrap();
    let prod_tag = tag_of(&prod, &image).expect("prod image tag");
    let screen = term.wait_screen(&format!("{svc}'s prod tag {prod_tag}"), |s| {
        row(s, &svc).is_some_and(|r| r.contains(&prod_tag))
            && s.contains("k8s default live")
            && s.contains("github live")
    });
    assert!(term.alternate_screen());
    assert!(
        !screen.contains("Build and push image"),
        "CI steps shown before any run was active:\n{screen}"
    );

    // A change behind hearth's back: kubectl set image in qa.
    let qa: Value = serde_json::from_str(
        &sandbox.kubectl(&["get", "deploy", &deploy, "-n", "qa", "-o", "json"]),
    )
    .unwrap();
    let container = qa["spec"]["template"]["spec"]["containers"][0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    sandbox.kubectl(&[
        "set",
        "image",
        &format!("deploy/{deploy}"),
        "-n",
        "qa",
        &format!("{container}={image}:v9.8.7-e2e"),
    ]);
    term.wait_screen("the tag set with kubectl in qa", |s| {
        row(s, &svc).is_some_and(|r| r.contains("v9.8.7-e2e"))
    });

    // A prerelease published on GitHub: CI builds and deploys it to qa.
    let tag = "v0.9.0-rc.1";
    let release = sandbox.publish_release(&svc, tag, true);
    assert_eq!(release["prerelease"], true);
    let screen = term.wait_screen("the CI run's steps and the new tag rolled out in qa", |s| {
        s.contains("Build and push image")
            && s.contains("Deploy")
            && s.lines().any(|l| l.contains("run #") && l.contains(tag))
            && s.lines()
                .any(|l| l.contains("QA (qa)") && l.contains("complete") && l.contains(tag))
            && row(s, &svc).is_some_and(|r| r.contains(tag))
    });
    assert!(
        screen
            .lines()
            .any(|l| l.contains(tag) && l.contains("prerelease")),
        "the release list lacks the new prerelease:\n{screen}"
    );
    // The step transitions stream in the order CI ran them.
    let at = |needle: &str| {
        screen
            .find(needle)
            .unwrap_or_else(|| panic!("no transition {needle:?}:\n{screen}"))
    };
    assert!(
        at("Checkout success") < at("Build and push image success")
            && at("Build and push image success") < at("Deploy to k3s success"),
        "step transitions out of order:\n{screen}"
    );
    assert!(
        row(&screen, &svc).is_some_and(|r| r.contains(&prod_tag)),
        "prod changed after a prerelease:\n{screen}"
    );

    // Navigation: j selects the next service, k comes back.
    let detail_title = |name: &str| format!("┌ {name} ─");
    term.keys(&["j"]);
    wait_for("j to select the second service", TIMEOUT, || {
        let styled = term.screen_styled();
        let ok = selected_service(&styled).as_deref() == Some(second.as_str())
            && strip_ansi(&styled).contains(&detail_title(&second));
        (ok.then_some(()), strip_ansi(&styled))
    });
    term.keys(&["k"]);
    wait_for("k to select the first service again", TIMEOUT, || {
        let styled = term.screen_styled();
        let ok = selected_service(&styled).as_deref() == Some(svc.as_str());
        (ok.then_some(()), strip_ansi(&styled))
    });
    // Enter focuses the detail pane: j now scrolls it instead of moving the
    // selection; Esc goes back to the overview, where j selects again.
    let header = format!("{image}  repo");
    assert!(
        term.screen().contains(&header),
        "the detail pane lacks its header line {header:?}"
    );
    term.keys(&["Enter"]);
    std::thread::sleep(Duration::from_millis(300));
    term.keys(&["j"]);
    let styled = wait_for("j to scroll the focused detail pane", TIMEOUT, || {
        let styled = term.screen_styled();
        let plain = strip_ansi(&styled);
        let scrolled = !plain.contains(&header) && plain.contains(&detail_title(&svc));
        (scrolled.then(|| styled.clone()), plain)
    });
    assert_eq!(
        selected_service(&styled).as_deref(),
        Some(svc.as_str()),
        "j moved the selection while the detail pane had focus:\n{}",
        strip_ansi(&styled)
    );
    term.keys(&["Escape"]);
    // Apart, or the terminal reads ESC j as Alt-j, as it would from a person
    // typing them within the same instant.
    std::thread::sleep(Duration::from_millis(300));
    term.keys(&["j"]);
    wait_for("Esc then j to select the second service", TIMEOUT, || {
        let styled = term.screen_styled();
        let ok = selected_service(&styled).as_deref() == Some(second.as_str());
        (ok.then_some(()), strip_ansi(&styled))
    });

    // `/` filters by name; Esc clears the filter.
    let total = term.screen();
    let count_title = total
        .lines()
        .find_map(|l| l.split("┌ services (").nth(1)?.split(')').next())
        .unwrap_or_else(|| panic!("no services count in the overview title:\n{total}"))
        .to_string();
    term.keys(&["/"]);
    term.type_literal(&second);
    let screen = term.wait_screen("the filter to keep only the matching service", |s| {
        s.contains(&format!("services (1/{count_title})"))
            && row(s, &second).is_some()
            && row(s, &svc).is_none()
    });
    assert!(
        screen.contains(&format!("/ {second}")),
        "the filter bar does not show what was typed:\n{screen}"
    );
    term.keys(&["Escape"]);
    term.wait_screen("Esc to clear the filter", |s| {
        s.contains(&format!("services ({count_title})")) && row(s, &svc).is_some()
    });

    // `?` shows the help generated from the keymap; `?` hides it again.
    term.keys(&["?"]);
    let help = term.wait_screen("the help overlay", |s| s.contains("help: interactive mode"));
    for binding in ["filter services by name", "quit", "select next service"] {
        assert!(help.contains(binding), "help lacks {binding:?}:\n{help}");
    }
    term.keys(&["?"]);
    term.wait_screen("? to close the help", |s| {
        !s.contains("help: interactive mode")
    });

    // Resized to 80x24 the control room still fits: rows, detail, status bar.
    term.resize(80, 24);
    term.wait_screen("the layout at 80x24", |s| {
        s.lines().count() <= 24
            && s.lines().all(|l| l.chars().count() <= 80)
            && row(s, &svc).is_some_and(|r| r.contains(&prod_tag))
            && s.contains("? help")
    });
    term.resize(160, 45);
    term.wait_screen("the layout back at 160x45", |s| {
        s.lines().any(|l| l.chars().count() > 100) && s.contains("k8s default live")
    });

    term.keys(&["q"]);
    term.wait_exit("LIVE").assert_restored(&term, 0);

    // 5. The token is in no frame, no byte written to the terminal, no log.
    let token = sandbox.var("GH_TOKEN");
    assert_no_secret(&token, "the terminal", &term.everything_shown());
    assert_no_secret_in_files(&token, &state, true);
}

// ---------------------------------------------------------------------------
// 4. `hearth status` against the sandbox, and 5. no token anywhere.
// ---------------------------------------------------------------------------

#[test]
fn status_matches_kubectl_and_fails_on_a_stuck_rollout() {
    let scratch = tempfile::tempdir().unwrap();
    let state = scratch.path().join("state");
    let sandbox = Sandbox::start(scratch.path());
    let services = sandbox.services();
    let mut seen = String::new();

    // --json parses and every live observation is what kubectl says runs.
    let out = sandbox.hearth_status(&state, &["--json"], &mut seen);
    assert!(out.status.success(), "status --json failed: {seen}");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("status --json is JSON");
    let deploys: Value =
        serde_json::from_str(&sandbox.kubectl(&["get", "deploy", "-A", "-o", "json"])).unwrap();
    let mut kube: HashMap<(String, String), &Value> = HashMap::new();
    for d in deploys["items"].as_array().unwrap() {
        let ns = d["metadata"]["namespace"].as_str().unwrap().to_string();
        let name = d["metadata"]["name"].as_str().unwrap().to_string();
        kube.insert((ns, name), d);
    }
    let listed = doc["services"].as_array().expect("services array");
    let mut compared = 0;
    for (svc, deploy, image) in &services {
        let entry = listed
            .iter()
            .find(|s| s["name"] == svc.as_str())
            .unwrap_or_else(|| panic!("{svc} missing from status --json"));
        for env in entry["environments"].as_array().unwrap() {
            let ns = env["namespace"].as_str().unwrap().to_string();
            let obs = &env["observation"];
            let d = kube
                .get(&(ns.clone(), deploy.clone()))
                .unwrap_or_else(|| panic!("kubectl has no deploy {deploy} in {ns}"));
            assert_eq!(obs["state"], "live", "{svc} in {ns}: {obs}");
            assert_eq!(
                obs["image_tag"].as_str(),
                tag_of(d, image).as_deref(),
                "{svc} in {ns}: status --json and kubectl disagree"
            );
            assert_eq!(
                obs["desired"], d["spec"]["replicas"],
                "{svc} in {ns} replicas"
            );
            compared += 1;
        }
    }
    assert!(
        compared >= 4,
        "compared only {compared} service/namespace pairs"
    );

    // The plain table names every service.
    let out = sandbox.hearth_status(&state, &[], &mut seen);
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "status exit code:\n{table}");
    for (svc, _, _) in &services {
        assert!(
            row(&table, svc).is_some(),
            "{svc} missing from the table:\n{table}"
        );
    }

    // A release whose migration fails gets stuck; once the progress deadline
    // passes, `hearth status` exits non-zero. The default deadline (600 s,
    // 60 s at --speed 10) is shortened the way a user would, with kubectl.
    let (svc, deploy, _) = &services[0];
    sandbox.kubectl(&[
        "patch",
        "deploy",
        deploy,
        "-n",
        "qa",
        "-p",
        r#"{"spec":{"progressDeadlineSeconds":20}}"#,
    ]);
    let (code, _) = sandbox.curl(
        "POST",
        &format!("{}/faults", sandbox.var("HEARTH_SANDBOX_URL")),
        Some(&format!(r#"{{"kind":"migration_fail","service":"{svc}"}}"#)),
        false,
    );
    assert_eq!(code, 201, "adding the migration_fail fault");
    let tag = "v0.9.1-rc.1";
    sandbox.publish_release(svc, tag, true);
    let table = wait_for(
        "hearth status to exit 1 for the stuck rollout",
        TIMEOUT,
        || {
            let out = sandbox.hearth_status(&state, &[svc.as_str()], &mut seen);
            let table = String::from_utf8_lossy(&out.stdout).into_owned();
            ((out.status.code() == Some(1)).then(|| table.clone()), table)
        },
    );
    let qa_line = table
        .lines()
        .find(|l| l.starts_with(svc.as_str()) && l.contains(" qa "))
        .unwrap_or_else(|| panic!("no qa line:\n{table}"));
    assert!(
        qa_line.contains("exceeded its progress deadline"),
        "{qa_line}"
    );
    assert!(qa_line.contains("old pods still serving"), "{qa_line}");
    let reason = sandbox.kubectl(&[
        "get",
        "deploy",
        deploy,
        "-n",
        "qa",
        "-o",
        r#"jsonpath={.status.conditions[?(@.type=="Progressing")].reason}"#,
    ]);
    assert_eq!(reason.trim(), "ProgressDeadlineExceeded");

    let out = sandbox.hearth_status(&state, &["--json", svc.as_str()], &mut seen);
    assert_eq!(out.status.code(), Some(1), "status --json exit code");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let qa = doc["services"][0]["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["namespace"] == "qa")
        .unwrap()
        .clone();
    let obs = &qa["observation"];
    assert_eq!(obs["rollout"]["state"], "failed", "{obs}");
    let stuck = obs["stuck_reason"].as_str().unwrap_or("");
    assert!(
        stuck.contains("migrat") && stuck.contains("CrashLoopBackOff"),
        "{stuck}"
    );
    // The old pods still serve: qa keeps ready replicas.
    assert!(
        obs["ready"].as_u64().unwrap_or(0) >= 1,
        "no ready pods left: {obs}"
    );

    // 5. The token is in no output and no log.
    let token = sandbox.var("GH_TOKEN");
    assert_no_secret(&token, "hearth status output", &seen);
    // (`hearth status` writes no log today; whatever it writes must be clean.)
    assert_no_secret_in_files(&token, &state, false);
}

impl Term {
    /// Resize the terminal, as a person dragging the window would.
    fn resize(&self, width: u16, height: u16) {
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
    fn type_literal(&self, text: &str) {
        run_ok(
            self.tmux()
                .args(["send-keys", "-t", &self.session, "-l", text]),
        );
    }
}

// ---------------------------------------------------------------------------
// More ways things end or fail, seen from outside.
// ---------------------------------------------------------------------------

/// Closing the terminal (SIGHUP) ends the control room instead of leaving it
/// running without a screen.
#[test]
fn closing_the_terminal_ends_the_control_room() {
    let scratch = tempfile::tempdir().unwrap();
    let state = scratch.path().join("state");
    let term = Term::start(
        scratch.path(),
        "hup",
        120,
        35,
        &offline_env(scratch.path(), &state),
    );
    let services = sh_quote(&example_registry().to_string_lossy());
    let pid_file = term.launch("HUP", &format!("{HEARTH} --services {services}"));
    term.wait_screen("the control room", |s| {
        row(s, "api").is_some() && s.contains("? help")
    });
    let pid = read_pid(&pid_file);
    run_ok(term.tmux().args(["kill-session", "-t", &term.session]));
    wait_for("hearth to exit once its terminal is gone", TIMEOUT, || {
        let alive = alive_running(pid, "hearth");
        ((!alive).then_some(()), format!("pid {pid} alive: {alive}"))
    });
}

/// `hearth status` says when a cluster cannot be read, with what to do, and
/// exits 2 (not 1, which means a failed rollout).
#[test]
fn status_exits_2_when_the_cluster_is_unreachable() {
    let scratch = tempfile::tempdir().unwrap();
    // A port nothing listens on: bind one, then let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let kubeconfig = scratch.path().join("kubeconfig");
    fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: gone\n  cluster:\n    server: http://127.0.0.1:{port}\n\
             contexts:\n- name: gone\n  context:\n    cluster: gone\n    user: nobody\n\
             users:\n- name: nobody\n  user: {{}}\ncurrent-context: gone\n"
        ),
    )
    .unwrap();
    let out = run(Command::new(HEARTH)
        .arg("--services")
        .arg(example_registry())
        .arg("status")
        .env("KUBECONFIG", &kubeconfig)
        .env("XDG_STATE_HOME", scratch.path().join("state"))
        .env_remove("GH_TOKEN")
        .env_remove("GITHUB_TOKEN")
        .env_remove("HEARTH_SERVICES"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "exit code:\n{stdout}");
    for svc in ["api", "web", "worker"] {
        assert!(row(&stdout, svc).is_some(), "{svc} missing:\n{stdout}");
    }
    assert!(
        stdout.contains("cannot reach") && stdout.contains("KUBECONFIG"),
        "no hint for an unreachable cluster:\n{stdout}"
    );
    assert!(
        stdout.contains("no token"),
        "no hint about the missing token:\n{stdout}"
    );
}

/// Open the control room on a fresh sandbox with fast GitHub polling.
fn live_session(scratch: &Path, name: &str) -> (Sandbox, Term, PathBuf) {
    let state = scratch.join("state");
    let sandbox = Sandbox::start(scratch);
    let mut env = sandbox.env.clone();
    env.push(("NO_COLOR".into(), "1".into()));
    env.push((
        "XDG_STATE_HOME".into(),
        state.to_string_lossy().into_owned(),
    ));
    env.push(("HEARTH_POLL_IDLE_SECS".into(), "1".into()));
    env.push(("HEARTH_POLL_ACTIVE_MS".into(), "200".into()));
    let term = Term::start(scratch, name, 160, 45, &env);
    term.launch("LIVE", HEARTH);
    term.wait_screen("the control room with live sources", |s| {
        s.contains("k8s default live") && s.contains("k8s qa live") && s.contains("github live")
    });
    (sandbox, term, state)
}

/// A failing build shows as a failed run with the failed step, and deploys
/// nothing; a GitHub outage shows as such and ends; the token shows nowhere.
#[test]
fn ci_failure_and_github_outage_are_shown_and_the_token_never_is() {
    let scratch = tempfile::tempdir().unwrap();
    let (sandbox, term, state) = live_session(scratch.path(), "faults");
    let (svc, deploy, image) = sandbox.services()[0].clone();
    let control = sandbox.var("HEARTH_SANDBOX_URL");

    let qa_before = tag_of(
        &serde_json::from_str(
            &sandbox.kubectl(&["get", "deploy", &deploy, "-n", "qa", "-o", "json"]),
        )
        .unwrap(),
        &image,
    )
    .unwrap();
    let fault = format!(r#"{{"kind":"build_fail","service":"{svc}"}}"#);
    let (code, _) = sandbox.curl("POST", &format!("{control}/faults"), Some(&fault), false);
    assert_eq!(code, 201, "adding the build_fail fault");
    let tag = "v0.9.2-rc.1";
    sandbox.publish_release(&svc, tag, true);
    let screen = term.wait_screen("the failed run with its failed step", |s| {
        row(s, &svc).is_some_and(|r| r.contains("failure"))
            && s.contains("Build and push image failure")
            && s.contains("Deploy to k3s skipped")
            && s.lines()
                .any(|l| l.contains("run #") && l.contains("failure") && l.contains(tag))
    });
    assert!(
        row(&screen, &svc).is_some_and(|r| r.contains(&qa_before) && !r.contains(tag)),
        "qa changed although the build failed:\n{screen}"
    );
    let qa_after = tag_of(
        &serde_json::from_str(
            &sandbox.kubectl(&["get", "deploy", &deploy, "-n", "qa", "-o", "json"]),
        )
        .unwrap(),
        &image,
    );
    assert_eq!(
        qa_after.as_deref(),
        Some(qa_before.as_str()),
        "kubectl: qa changed"
    );

    // GitHub answers 502 for three seconds: shown as degraded, then live again.
    let (code, _) = sandbox.curl(
        "POST",
        &format!("{control}/faults"),
        Some(r#"{"kind":"github_error","seconds":3}"#),
        false,
    );
    assert_eq!(code, 201, "adding the github_error fault");
    let screen = term.wait_screen("the GitHub outage on screen", |s| {
        s.contains("github degraded") || s.contains("github down")
    });
    assert!(
        screen.contains("502"),
        "the outage does not say what GitHub answered:\n{screen}"
    );
    // Kubernetes data keeps flowing during the outage.
    assert!(screen.contains("k8s qa live"), "{screen}");
    term.wait_screen("GitHub live again after the outage", |s| {
        s.contains("github live")
    });

    term.keys(&["q"]);
    term.wait_exit("LIVE").assert_restored(&term, 0);
    let token = sandbox.var("GH_TOKEN");
    assert_no_secret(&token, "the terminal", &term.everything_shown());
    assert_no_secret_in_files(&token, &state, true);
}

/// Known bug (reported, not fixed here): after a GitHub outage ends, the
/// status bar says `github live` but every service whose data did not change
/// keeps its "GitHub answered 502" error, because the poller's 304 answers
/// send no message that clears it (`src/sources/github.rs`, `ok()`).
#[test]
#[ignore = "known bug: per-service GitHub errors stay after GitHub recovers (see report)"]
fn github_errors_clear_once_github_answers_again() {
    let scratch = tempfile::tempdir().unwrap();
    let (sandbox, term, _state) = live_session(scratch.path(), "recover");
    let control = sandbox.var("HEARTH_SANDBOX_URL");
    let (code, _) = sandbox.curl(
        "POST",
        &format!("{control}/faults"),
        Some(r#"{"kind":"github_error","seconds":2}"#),
        false,
    );
    assert_eq!(code, 201);
    term.wait_screen("the GitHub outage on screen", |s| s.contains("502"));
    term.wait_screen("every service's GitHub error cleared", |s| {
        s.contains("github live") && !s.contains("GitHub answered 502")
    });
    term.keys(&["q"]);
    term.wait_exit("LIVE").assert_restored(&term, 0);
}

/// `hearth demo`: one command opens the control room on a live sandbox; q
/// ends both and removes the sandbox's folder; its token shows nowhere.
#[test]
fn demo_runs_live_and_cleans_up() {
    let scratch = tempfile::tempdir().unwrap();
    let state = scratch.path().join("state");
    let tmp = scratch.path().join("tmp");
    fs::create_dir_all(&tmp).unwrap();
    let env = vec![
        ("NO_COLOR".to_string(), "1".to_string()),
        (
            "XDG_STATE_HOME".into(),
            state.to_string_lossy().into_owned(),
        ),
        ("TMPDIR".into(), tmp.to_string_lossy().into_owned()),
    ];
    let term = Term::start(scratch.path(), "demo", 160, 45, &env);
    term.launch("DEMO", &format!("{HEARTH} demo --speed 10"));
    let screen = term.wait_screen("the demo with live sources", |s| {
        s.contains("k8s default live")
            && s.contains("k8s qa live")
            && s.contains("github live")
            && row(s, "api").is_some_and(|r| r.contains("v0."))
    });
    assert!(term.alternate_screen(), "{screen}");
    let demo_dir = fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("hearth-demo-"))
        })
        .unwrap_or_else(|| panic!("no hearth-demo-* folder under TMPDIR"));
    let env_file = fs::read_to_string(demo_dir.join("env")).expect("the demo sandbox's env file");
    let token = env_file
        .lines()
        .find_map(|l| l.strip_prefix("export GH_TOKEN="))
        .expect("GH_TOKEN in the demo env")
        .trim_matches(['"', '\''])
        .to_string();

    term.keys(&["q"]);
    term.wait_exit("DEMO").assert_restored(&term, 0);
    assert!(
        !demo_dir.exists(),
        "the demo left {} behind",
        demo_dir.display()
    );
    assert_no_secret(&token, "the terminal", &term.everything_shown());
    assert_no_secret_in_files(&token, &state, true);
}

/// The harness itself: a program that leaves raw mode, no echo, the
/// alternate screen and a hidden cursor behind is caught by every check
/// [`ExitReport::assert_restored`] makes, so passing them means something.
#[test]
fn harness_notices_a_terminal_left_broken() {
    let scratch = tempfile::tempdir().unwrap();
    let term = Term::start(scratch.path(), "broken", 100, 30, &[]);
    let script = scratch.path().join("break-tty.sh");
    fs::write(&script, "stty raw -echo\nprintf '\\033[?1049h\\033[?25l'\n").unwrap();
    term.launch(
        "BROKEN",
        &format!("sh {}", sh_quote(&script.to_string_lossy())),
    );
    let report = term.wait_exit("BROKEN");
    assert_eq!(report.code, 0);
    assert!(!report.tty_same, "stty -g did not notice: {}", report.line);
    for flag in ["-icanon", "-echo"] {
        assert!(
            report.flags.iter().any(|f| f == flag),
            "{flag}: {}",
            report.line
        );
    }
    assert!(
        term.alternate_screen(),
        "the alternate screen went unnoticed"
    );
    assert_eq!(
        term.pane("#{cursor_flag}"),
        "0",
        "the hidden cursor went unnoticed"
    );
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        report.assert_restored(&term, 0)
    }));
    assert!(caught.is_err(), "assert_restored passed a broken terminal");
}
