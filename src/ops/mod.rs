//! Operations (ship, promote, rollback, logs) shared by the TUI and the CLI.
