//! Hosts outside Kubernetes (seed 001's docker compose hosts): a deploy
//! workflow whose `env:` names `HOST` instead of `NAMESPACE` deploys its
//! image tag there, and the host's own endpoints say what it runs:
//! `GET /hosts/{host}/version` (`{"status":"ok","version":"sha-1a2b3c4"}`)
//! and `GET /hosts/{host}/api/ready` (`ok sha-1a2b3c4`). A host nothing was
//! deployed to answers 404. Shared by the simulated CI (which deploys) and
//! the control API (which serves the endpoints).

use std::collections::BTreeMap;
use std::sync::Mutex;

/// What each host runs.
#[derive(Debug, Default)]
pub struct Hosts {
    running: Mutex<BTreeMap<String, String>>,
}

impl Hosts {
    /// The tag `host` runs, if anything was deployed there.
    pub fn running(&self, host: &str) -> Option<String> {
        self.running.lock().expect("hosts").get(host).cloned()
    }

    /// `docker compose up` with `tag` on `host`.
    pub fn deploy(&self, host: &str, tag: &str) {
        self.running
            .lock()
            .expect("hosts")
            .insert(host.to_string(), tag.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_runs_what_was_deployed_last() {
        let h = Hosts::default();
        assert_eq!(h.running("ledger-edge"), None);
        h.deploy("ledger-edge", "sha-1a2b3c4");
        h.deploy("ledger-edge", "sha-5d6e7f8");
        assert_eq!(h.running("ledger-edge").as_deref(), Some("sha-5d6e7f8"));
        assert_eq!(h.running("other"), None);
    }
}
