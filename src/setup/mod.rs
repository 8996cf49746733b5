//! One-off setup, apart from delivery: `hearth init` reads what already runs
//! on the current context and writes a services.yaml ([`init`]); `hearth
//! setup --workflow` writes a repository's release workflow from a template
//! ([`workflow`]); `hearth setup --ci` creates the CI identity, its RBAC and
//! the repository secrets ([`ci`]).
//!
//! `setup --ci` changes the cluster and GitHub, so it runs on the operations
//! framework ([`crate::ops::Context`], a [`crate::WriteAccess`], the command
//! log and the journal) like every operation; it lives here because it
//! prepares delivery rather than being one.

pub mod ci;
pub mod init;
pub mod workflow;
