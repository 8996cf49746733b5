//! `hearth history [SERVICE]`: the audit journal, newest last, with the
//! operations a process died in the middle of marked `interrupted`.

use std::process::ExitCode;

use crate::cli::{GlobalOpts, HistoryArgs};
use crate::ops::audit::Journal;

/// Run `hearth history`.
pub fn run(_global: &GlobalOpts, args: &HistoryArgs) -> anyhow::Result<ExitCode> {
    let journal = Journal::new(super::operation::journal_path()?);
    let mut entries = journal.entries();
    entries.extend(journal.interrupted());
    entries.sort_by(|a, b| a.time.cmp(&b.time));
    entries.retain(|e| args.service.as_ref().is_none_or(|s| &e.service == s));
    let from = entries.len().saturating_sub(args.limit);
    let entries = &entries[from..];
    if args.json {
        for e in entries {
            println!("{}", serde_json::to_string(e)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if entries.is_empty() {
        eprintln!("hearth: no operations in {} yet", journal.path().display());
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<19}  {:<8} {:<12} {:<5} {:<26} {:<11} USER",
        "TIME (UTC)", "OP", "SERVICE", "ENV", "CHANGE", "RESULT"
    );
    for e in entries {
        println!("{}", e.line());
    }
    Ok(ExitCode::SUCCESS)
}
