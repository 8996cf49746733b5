//! The application core: the one `State`, the `Msg`s that change it, and the
//! pure `update` function. Runs on the main task; never does IO.

pub mod msg;

pub use msg::{Msg, SourceId};
pub mod run;
