//! hearth: a terminal control room for services shipped to Kubernetes through
//! GitHub Releases and GitHub Actions.
//!
//! The crate is laid out the way the architecture runs (see
//! docs/architecture.md): `cli` holds the clap definitions and `cmd` turns
//! them into resolved settings ([`config::Config`]) and runs a mode;
//! `registry` loads services.yaml; `model` holds the domain types and rules
//! every part shares; `cluster` and `github` are the API clients (reads,
//! watches, pollers, and the writes operations need), reporting through their
//! own event types; `app` owns the one `State`, its pure `update` and the
//! loop; `ui` renders that state purely; `ops` runs the operations, one room per
//! delivery model; `setup` holds the one-off `init` and `setup`. The
//! embedded sandbox is the `hearth-sandbox` crate beside this one.

pub mod app;
pub mod cli;
pub mod cluster;
pub mod cmd;
pub mod config;
pub mod endpoint;
pub mod flux;
pub mod github;
pub mod model;
pub mod ops;
pub mod registry;
pub mod setup;
pub mod ui;

pub use cmd::access::WriteAccess;
