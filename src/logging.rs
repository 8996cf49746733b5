//! Logging: tracing to a rolling file in the XDG state directory, never to the
//! terminal the TUI owns.
