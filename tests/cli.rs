//! The command line as a script uses it: `hearth sandbox` (env file, serving,
//! SIGTERM), `--count`, and `--services` meaning a registry path and nothing
//! else. Runs the real binary.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const HEARTH: &str = env!("CARGO_BIN_EXE_hearth");

/// Start `hearth sandbox` in `dir` with `args`; wait for its env file.
fn start_sandbox(dir: &Path, args: &[&str]) -> std::process::Child {
    let child = Command::new(HEARTH)
        .args(["sandbox", "--dir"])
        .arg(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let env_file = dir.join("env");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !env_file.exists() {
        assert!(Instant::now() < deadline, "no DIR/env");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn stop(mut child: std::process::Child) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < deadline, "sandbox did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn hearth_sandbox_writes_env_serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let sb_dir = dir.path().join("sb");
    let mut child = start_sandbox(&sb_dir, &["--speed", "10"]);
    let env_file = sb_dir.join("env");
    // The env file is sourceable by `set -a; . DIR/env`.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "set -a; . '{}'; set +a; echo \"$KUBECONFIG|$GITHUB_API_URL|$HEARTH_SERVICES|$HEARTH_SANDBOX_URL|${{#GH_TOKEN}}\"",
            env_file.display()
        ))
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let parts: Vec<&str> = line.split('|').collect();
    assert_eq!(parts.len(), 5, "{line}");
    assert_eq!(
        Path::new(parts[0]),
        sb_dir.canonicalize().unwrap().join("kubeconfig")
    );
    assert!(parts[1].starts_with("http://127.0.0.1:"));
    assert!(Path::new(parts[2]).exists());
    assert!(parts[3].starts_with("http://127.0.0.1:"));
    assert!(parts[4].parse::<usize>().unwrap() >= 20, "a real token");
    let token = std::fs::read_to_string(&env_file)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("export GH_TOKEN=").map(str::to_string))
        .unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let r = http
            .get(format!("{}/repos/hearth-demo/api/releases", parts[1]))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let journal: serde_json::Value = http
            .get(format!("{}/requests", parts[3]))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(journal.to_string().contains("releases"));
    });

    // SIGTERM stops it cleanly, after it printed the same settings as
    // DIR/env (which also says, in comments, what it overrides).
    let mut stdout = child.stdout.take().unwrap();
    assert!(stop(child).success());
    let mut printed = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut printed).unwrap();
    let settings: Vec<String> = std::fs::read_to_string(&env_file)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(printed, settings.concat());
}

/// `--count N` makes N services, named svc-001...
#[test]
fn sandbox_count_makes_that_many_services() {
    let dir = tempfile::tempdir().unwrap();
    let sb_dir = dir.path().join("sb");
    let child = start_sandbox(&sb_dir, &["--count", "7", "--speed", "10"]);
    let text = std::fs::read_to_string(sb_dir.join("services.yaml")).unwrap();
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let with_image: Vec<&str> = yaml
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, v)| v.get("image").is_some())
        .filter_map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(
        with_image,
        ["svc-001", "svc-002", "svc-003", "svc-004", "svc-005", "svc-006", "svc-007"]
    );
    assert!(stop(child).success());
}

/// `--services` is a registry path and nothing else: `HEARTH_SERVICES=300`
/// names a file called 300, and `--count` is refused as a registry option.
#[test]
fn services_is_a_path_never_a_count() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(HEARTH)
        .arg("check")
        .env("HEARTH_SERVICES", "300")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("300") && err.contains("cannot read"), "{err}");
    // demo and sandbox take --count; --help says so.
    for sub in ["demo", "sandbox"] {
        let out = Command::new(HEARTH).args([sub, "--help"]).output().unwrap();
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("--count"),
            "{sub}"
        );
    }
}

/// `hearth demo --services x.yaml`: the option names a registry, so the
/// demo (which brings its own) refuses it instead of silently ignoring it.
#[test]
fn demo_refuses_a_registry_it_would_not_use() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("x.yaml"),
        "api:\n  image: ghcr.io/acme/api\n",
    )
    .unwrap();
    let out = Command::new(HEARTH)
        .args(["demo", "--services", "x.yaml"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("--services") && err.contains("demo"),
        "the refusal names the option: {err}"
    );
}

#[test]
fn sandbox_wait_returns_when_the_env_is_ready_and_says_what_it_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let sb_dir = dir.path().join("sb");
    // Nothing starting there: --wait gives up after --timeout with exit 3.
    let out = Command::new(HEARTH)
        .args(["sandbox", "--dir"])
        .arg(&sb_dir)
        .args(["--wait", "--timeout", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no sandbox became ready"));
    // The README's snippet: start in the background, wait, source.
    let child = Command::new(HEARTH)
        .args(["sandbox", "--speed", "10", "--dir"])
        .arg(&sb_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = Command::new(HEARTH)
        .args(["sandbox", "--dir"])
        .arg(&sb_dir)
        .arg("--wait")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let env_path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let text = std::fs::read_to_string(&env_path).unwrap();
    assert!(text.contains("export HEARTH_SERVICES="), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with('#')
                && l.contains("HEARTH_SERVICES below replaces ./services.yaml")),
        "{text}"
    );
    assert!(stop(child).success());
}
