//! Data sources: tokio tasks that watch Kubernetes (`cluster`) and poll GitHub
//! (`github`) and send [`crate::app::Msg`]s. They never touch `State`.
//! Also the one-shot `hearth status` and `hearth demo` entry points.

pub mod cluster;
pub mod demo;
pub mod github;
pub mod status;
pub mod token;

use tokio::sync::mpsc;

use crate::app::Msg;
use crate::registry::Registry;

/// The running sources of a control room. They stop with the runtime, or
/// earlier with [`Sources::stop`].
pub struct Sources {
    /// Wake a service's GitHub poller now (after hearth changed a release).
    pub kicks: github::Kicks,
    handles: Vec<tokio::task::JoinHandle<()>>,
}

impl Sources {
    /// Stop every source task.
    pub fn stop(&mut self) {
        for h in self.handles.drain(..) {
            h.abort();
        }
    }
}

/// Start the Kubernetes watches and the GitHub pollers for `registry`,
/// sending into `tx`. Must be called inside a tokio runtime. `token` comes
/// from [`token::discover`] (blocking: call it before entering async code);
/// `None` disables GitHub with a message that says how to provide one.
pub fn spawn_all(
    registry: &Registry,
    default_context: Option<&str>,
    token: Option<token::Token>,
    tx: mpsc::Sender<Msg>,
) -> Sources {
    let mut handles = cluster::spawn(registry, default_context, tx.clone());
    let (kicks, gh) = github::spawn(registry, token, github::Intervals::from_env(), tx);
    handles.extend(gh);
    Sources { kicks, handles }
}
