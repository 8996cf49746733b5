//! hearth: a terminal control room for services shipped to Kubernetes through
//! GitHub Releases and GitHub Actions.
//!
//! The crate is laid out the way the architecture runs (see DESIGN.md):
//! `registry` loads services.yaml, `model` holds the domain types every part
//! shares, `sources` are tokio tasks that watch Kubernetes and poll GitHub and
//! send [`app::Msg`]s, `app` owns the one `State` and its pure `update`, `ui`
//! renders that state purely, `ops` runs operations, and `sandbox` is the
//! embedded Kubernetes + GitHub API used by `hearth demo` and the tests.

pub mod app;
pub mod cli;
pub mod logging;
pub mod model;
pub mod ops;
pub mod registry;
pub mod sandbox;
pub mod sources;
pub mod ui;
