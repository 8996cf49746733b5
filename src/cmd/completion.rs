//! `hearth completion SHELL` and `hearth man`: the shell completion script
//! and the man pages, both generated from the clap definitions so that they
//! never disagree with `--help`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::CommandFactory;

use crate::cli::{Cli, CompletionArgs, ManArgs};

/// Print the completion script for one shell.
pub fn run(args: &CompletionArgs) -> anyhow::Result<ExitCode> {
    let mut cmd = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut cmd, "hearth", &mut out);
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Print `hearth.1` (roff), or with `--dir` write it and one page per
/// subcommand (`hearth-ship.1`, ...) into that folder.
pub fn man(args: &ManArgs) -> anyhow::Result<ExitCode> {
    let root = Cli::command();
    let Some(dir) = &args.dir else {
        let mut out = std::io::stdout().lock();
        clap_mangen::Man::new(root).render(&mut out)?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut pages = vec![("hearth".to_string(), root.clone())];
    for sub in root.get_subcommands() {
        let name = format!("hearth-{}", sub.get_name());
        pages.push((name.clone(), sub.clone().name(name)));
    }
    for (name, cmd) in pages {
        let path = dir.join(format!("{name}.1"));
        let mut buf = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut buf)?;
        std::fs::write(&path, buf).with_context(|| format!("writing {}", path.display()))?;
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_naming_every_subcommand() {
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
        ] {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "hearth", &mut buf);
            let text = String::from_utf8(buf).unwrap();
            for sub in ["ship", "promote", "rollback", "logs", "watch", "status"] {
                assert!(text.contains(sub), "{shell:?} lacks {sub}");
            }
        }
    }

    #[test]
    fn the_man_page_documents_the_exit_codes() {
        let mut buf = Vec::new();
        clap_mangen::Man::new(Cli::command())
            .render(&mut buf)
            .unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert!(text.contains(".TH hearth"), "{text}");
        assert!(text.contains("Exit codes"), "{text}");
        assert!(text.contains("ship"), "{text}");
    }
}
