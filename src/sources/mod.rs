//! Data sources: tokio tasks that watch Kubernetes (`cluster`) and poll GitHub
//! (`github`) and send [`crate::app::Msg`]s. They never touch `State`.
//! Also the one-shot `hearth status` and `hearth demo` entry points.

pub mod cluster;
pub mod demo;
pub mod github;
pub mod status;
pub mod token;
