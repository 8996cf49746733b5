//! The write capability. Every mutating path (the `Command` that asks for an
//! operation, the operations runner, the GitHub write methods, the
//! Kubernetes patch calls) takes a [`WriteAccess`], and only the command
//! layer can make one: the interactive control room, `hearth demo` and the
//! operation subcommands grant it; `hearth watch` never does, so no code path
//! reachable from watch mode can build a mutating request.

/// Proof that the session may change things. Cheap to clone; carries nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteAccess {
    _private: (),
}

impl WriteAccess {
    /// Grant write access. Callable from `cmd/` only (and never from
    /// `cmd/watch.rs`, which a unit test checks).
    pub(in crate::cmd) fn grant() -> WriteAccess {
        WriteAccess { _private: () }
    }
}
