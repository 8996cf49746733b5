//! The `hearth` binary: parse the command line and run the chosen mode.

fn main() -> std::process::ExitCode {
    hearth::cmd::main()
}
