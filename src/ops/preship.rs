//! The pre-ship gate: the service's `pre_ship_cmd`, run with `sh -c` in its
//! directory before any git change, its output streamed line by line, with a
//! timeout and cancellation (the whole process group is stopped, so a test
//! runner's children stop too). Only the last lines are kept, for the
//! failure message.

use std::collections::VecDeque;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::watch;

use super::context::Reporter;
use crate::model::{Problem, ProblemKind};

/// How many lines of output a failure quotes.
pub const TAIL: usize = 20;

/// Why the gate did not pass.
#[derive(Debug)]
pub enum GateError {
    /// The command ran and failed (exit code) or timed out.
    Failed { problem: Problem, tail: Vec<String> },
    /// Cancelled by the user.
    Cancelled,
}

/// Run `cmd` in `dir`, streaming its output to `rep`. `cancel` turning
/// `true` stops it.
pub async fn run(
    cmd: &str,
    dir: &Path,
    timeout: Duration,
    rep: &Reporter,
    mut cancel: watch::Receiver<bool>,
) -> Result<(), GateError> {
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| GateError::Failed {
            problem: Problem::new(
                ProblemKind::Local,
                format!(
                    "cannot start the pre-ship command {cmd:?} in {}: {e}",
                    dir.display()
                ),
                "check `directory:` and `pre_ship_cmd:` in services.yaml",
            ),
            tail: vec![],
        })?;
    let pid = child.id();
    // Split on newlines as bytes: a command that prints non-UTF-8 is still
    // drained (lossily), never left blocked on a full pipe.
    let mut out = BufReader::new(child.stdout.take().expect("piped")).split(b'\n');
    let mut err = BufReader::new(child.stderr.take().expect("piped")).split(b'\n');
    let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL);
    let keep = |tail: &mut VecDeque<String>, line: &str| {
        if tail.len() == TAIL {
            tail.pop_front();
        }
        tail.push_back(line.to_string());
    };
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let (mut out_done, mut err_done) = (false, false);
    let status = loop {
        tokio::select! {
            line = out.next_segment(), if !out_done => match line {
                Ok(Some(l)) => { let l = crate::model::text::log_line(&String::from_utf8_lossy(&l)); keep(&mut tail, &l); rep.line(l).await; }
                _ => out_done = true,
            },
            line = err.next_segment(), if !err_done => match line {
                Ok(Some(l)) => { let l = crate::model::text::log_line(&String::from_utf8_lossy(&l)); keep(&mut tail, &l); rep.line(l).await; }
                _ => err_done = true,
            },
            status = child.wait(), if out_done && err_done => break status,
            _ = &mut deadline => {
                stop_group(pid);
                let _ = child.wait().await;
                return Err(GateError::Failed {
                    problem: Problem::new(
                        ProblemKind::Timeout,
                        format!("the pre-ship command {cmd:?} did not finish within {} s", timeout.as_secs()),
                        "fix the hang, or ship past it with --skip-tests in an emergency",
                    ),
                    tail: tail.into(),
                });
            }
            _ = cancelled(&mut cancel) => {
                stop_group(pid);
                let _ = child.wait().await;
                return Err(GateError::Cancelled);
            }
        }
    };
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(GateError::Failed {
            problem: Problem::new(
                ProblemKind::Local,
                format!(
                    "the pre-ship command {cmd:?} failed (exit {})",
                    s.code().map_or("by signal".to_string(), |c| c.to_string())
                ),
                "fix the tests, or ship past them with --skip-tests in an emergency",
            ),
            tail: tail.into(),
        }),
        Err(e) => Err(GateError::Failed {
            problem: Problem::new(ProblemKind::Local, format!("waiting for {cmd:?}: {e}"), ""),
            tail: tail.into(),
        }),
    }
}

/// Resolves once `cancel` turns `true` (the guard is dropped at once, so
/// the future stays `Send`).
async fn cancelled(cancel: &mut watch::Receiver<bool>) {
    let _ = cancel.wait_for(|c| *c).await.map(|_| ());
}

/// Stop the process group the command leads.
fn stop_group(pid: Option<u32>) {
    if let Some(pid) = pid {
        let _ = std::process::Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{pid}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::OpKind;
    use tokio::sync::mpsc;

    /// A command that prints invalid UTF-8, a lot of it, is drained to its
    /// end: it finishes with its own exit status, not the timeout.
    #[tokio::test]
    async fn non_utf8_output_is_drained() {
        let (tx, mut rx) = mpsc::channel(16);
        let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
        let rep = Reporter::new(tx, 1, OpKind::Ship, "api", None);
        let (_keep, cancel) = watch::channel(false);
        // 200 kB of 0xff lines on stdout and stderr: more than a pipe holds.
        let cmd = "i=0; while [ $i -lt 2000 ]; do printf 'x\\377\\376 %0100d\\n' $i; printf '\\377\\n' >&2; i=$((i+1)); done; exit 3";
        let started = std::time::Instant::now();
        let res = run(cmd, Path::new("."), Duration::from_secs(20), &rep, cancel).await;
        match res {
            Err(GateError::Failed { problem, tail }) => {
                assert_eq!(problem.kind, ProblemKind::Local, "{problem:?}");
                assert!(problem.message.contains("exit 3"), "{problem:?}");
                assert!(tail.iter().any(|l| l.contains('\u{fffd}')), "{tail:?}");
            }
            other => panic!("expected the command's own failure, got {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(15));
        drop(rep);
        drain.await.unwrap();
    }
}
