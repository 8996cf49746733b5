//! Helpers shared by the integration tests: reading a screen (rows and the
//! cells of the overview's columns) and waiting for a condition.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

/// The overview row of `service` (the line whose first cell is its name).
pub fn row<'a>(screen: &'a str, service: &str) -> Option<&'a str> {
    screen.lines().find(|l| {
        l.trim_start_matches(['│', ' '])
            .strip_prefix(service)
            .is_some_and(|rest| rest.starts_with(' '))
    })
}

/// The text of `service`'s overview cell in the column headed `column`
/// (`PROD`, `QA`, `RELEASE`, `CI`, `NOTES`), trimmed: from where the header
/// names the column to where the next column starts.
pub fn cell(screen: &str, service: &str, column: &str) -> Option<String> {
    let header = screen
        .lines()
        .find(|l| l.contains("SERVICE") && l.contains("PROD"))?;
    let cols: Vec<char> = header.chars().collect();
    let starts: Vec<usize> = (0..cols.len())
        .filter(|&i| {
            cols[i] != ' ' && cols[i] != '│' && (i == 0 || matches!(cols[i - 1], ' ' | '│'))
        })
        .collect();
    let words: Vec<String> = starts
        .iter()
        .map(|&i| {
            cols[i..]
                .iter()
                .take_while(|c| !matches!(c, ' ' | '│'))
                .collect()
        })
        .collect();
    let k = words.iter().position(|w| w == column)?;
    let from = starts[k];
    let to = starts.get(k + 1).copied().unwrap_or(cols.len());
    let line: Vec<char> = row(screen, service)?.chars().collect();
    Some(
        line.get(from..to.min(line.len()))?
            .iter()
            .collect::<String>()
            .trim_matches(['│', ' '])
            .to_string(),
    )
}

/// The overview's QA cell of `service` (tag, replicas and state).
pub fn qa_cell(screen: &str, service: &str) -> Option<String> {
    cell(screen, service, "QA")
}

/// Poll `f` until it returns `Some`, for at most `secs` seconds; panics
/// with `what` when it never does.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {secs} s waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
