//! `kubectl rollout status` as the simulated CI's deploy step asks it of the
//! cluster (through `DeployTarget::rollout_status`), read from the store
//! under the cluster lock. Runs on the CI run's task.

use serde_json::Value;

use super::store::Kind;
use super::Cluster;

impl Cluster {
    /// kubectl's rules: the controller must have observed the latest
    /// generation; `ProgressDeadlineExceeded` is a failure; otherwise done
    /// once every replica is updated and available and no old one is left.
    pub(crate) fn rollout_state(&self, namespace: &str, deployment: &str) -> Result<bool, String> {
        let inner = self.lock();
        let dep = inner
            .store
            .get(Kind::Deployment, namespace, deployment)
            .ok_or_else(|| {
                format!("deployments.apps \"{deployment}\" not found in namespace \"{namespace}\"")
            })?;
        judge(dep)
    }
}

impl Cluster {
    /// The image tags the ready pods of a Deployment run (what answers
    /// requests), or `None` when there is no such Deployment. What the
    /// control API's smoke endpoints answer from.
    pub fn serving_tags(&self, namespace: &str, deployment: &str) -> Option<Vec<String>> {
        let inner = self.lock();
        inner.store.get(Kind::Deployment, namespace, deployment)?;
        Some(
            inner
                .store
                .list_prefix(Kind::Pod, namespace, &format!("{deployment}-"))
                .into_iter()
                .filter(|p| {
                    super::pods::is_ready(p) && p["metadata"]["deletionTimestamp"].is_null()
                })
                .filter_map(|p| p["spec"]["containers"][0]["image"].as_str())
                .map(|i| super::image_tag(i).to_string())
                .collect(),
        )
    }
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

/// Judge one Deployment object (see [`Cluster::rollout_state`]).
fn judge(dep: &Value) -> Result<bool, String> {
    let name = dep["metadata"]["name"].as_str().unwrap_or("");
    let status = &dep["status"];
    if int(&dep["metadata"]["generation"]) > int(&status["observedGeneration"]) {
        return Ok(false);
    }
    let stuck = status["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Progressing" && c["reason"] == "ProgressDeadlineExceeded")
    });
    if stuck {
        return Err(format!(
            "deployment \"{name}\" exceeded its progress deadline"
        ));
    }
    let replicas = dep["spec"]["replicas"].as_i64().unwrap_or(1);
    let updated = int(&status["updatedReplicas"]);
    Ok(updated >= replicas
        && int(&status["replicas"]) <= updated
        && int(&status["availableReplicas"]) >= updated)
}

#[cfg(test)]
mod tests {
    use super::judge;
    use serde_json::json;

    fn dep(
        gen: i64,
        observed: i64,
        updated: i64,
        total: i64,
        avail: i64,
        reason: &str,
    ) -> serde_json::Value {
        json!({
            "metadata": {"name": "api", "generation": gen},
            "spec": {"replicas": 2},
            "status": {
                "observedGeneration": observed,
                "updatedReplicas": updated,
                "replicas": total,
                "availableReplicas": avail,
                "conditions": [{"type": "Progressing", "reason": reason}],
            }
        })
    }

    #[test]
    fn judges_like_kubectl_rollout_status() {
        assert_eq!(
            judge(&dep(2, 2, 2, 2, 2, "NewReplicaSetAvailable")),
            Ok(true)
        );
        assert_eq!(
            judge(&dep(3, 2, 2, 2, 2, "NewReplicaSetAvailable")),
            Ok(false)
        );
        assert_eq!(judge(&dep(2, 2, 1, 3, 2, "ReplicaSetUpdated")), Ok(false));
        assert_eq!(judge(&dep(2, 2, 2, 3, 2, "ReplicaSetUpdated")), Ok(false));
        assert_eq!(judge(&dep(2, 2, 2, 2, 1, "ReplicaSetUpdated")), Ok(false));
        assert!(judge(&dep(2, 2, 1, 3, 2, "ProgressDeadlineExceeded")).is_err());
    }
}
