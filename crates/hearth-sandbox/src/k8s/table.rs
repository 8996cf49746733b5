//! `meta.k8s.io/v1` Table responses, which `kubectl get` asks for to print
//! its usual columns: the same columns (and the same status texts, ages and
//! restart counts) the real apiserver prints. Used by the HTTP handlers for
//! lists, single gets and watches.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::store::Kind;

/// How much of each object a Table row carries (`includeObject=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    /// From the `includeObject` query parameter (default: metadata).
    pub fn parse(s: Option<&str>) -> IncludeObject {
        match s {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

fn col(name: &str, ty: &str, format: &str, priority: i32, description: &str) -> Value {
    json!({"name": name, "type": ty, "format": format, "description": description, "priority": priority})
}

/// Column definitions for a kind.
pub fn columns(kind: Kind) -> Value {
    let name = col(
        "Name",
        "string",
        "name",
        0,
        "Name must be unique within a namespace.",
    );
    let age = col(
        "Age",
        "string",
        "",
        0,
        "CreationTimestamp is a timestamp representing the server time when this object was created.",
    );
    let containers = col(
        "Containers",
        "string",
        "",
        1,
        "Names of each container in the template.",
    );
    let images = col(
        "Images",
        "string",
        "",
        1,
        "Images referenced by each container in the template.",
    );
    let selector = col("Selector", "string", "", 1, "Label selector for pods.");
    Value::Array(match kind {
        Kind::Deployment => vec![
            name,
            col("Ready", "string", "", 0, "Number of the pod with ready state"),
            col("Up-to-date", "string", "", 0, "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
            col("Available", "string", "", 0, "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
            age,
            containers,
            images,
            selector,
        ],
        Kind::ReplicaSet => vec![
            name,
            col("Desired", "integer", "", 0, "Replicas is the number of desired replicas."),
            col("Current", "integer", "", 0, "Replicas is the most recently observed number of replicas."),
            col("Ready", "integer", "", 0, "The number of ready replicas for this replica set."),
            age,
            containers,
            images,
            selector,
        ],
        Kind::Pod => vec![
            name,
            col("Ready", "string", "", 0, "The aggregate readiness state of this pod for accepting traffic."),
            col("Status", "string", "", 0, "The aggregate status of the containers in this pod."),
            col("Restarts", "string", "", 0, "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
            age,
            col("IP", "string", "", 1, "IP address allocated to the pod."),
            col("Node", "string", "", 1, "Name of the node where the pod is scheduled."),
            col("Nominated Node", "string", "", 1, "Name of the node where the pod is nominated."),
            col("Readiness Gates", "string", "", 1, "Pod readiness gates."),
        ],
        Kind::Event => vec![
            col("Last Seen", "string", "", 0, "Time of the last occurrence."),
            col("Type", "string", "", 0, "Type of this event."),
            col("Reason", "string", "", 0, "Short, machine understandable string that gives the reason for this event."),
            col("Object", "string", "", 0, "The object that this event is about."),
            col("Subobject", "string", "", 1, "The field of the object this event is about."),
            col("Source", "string", "", 1, "The component reporting this event."),
            col("Message", "string", "", 0, "A human-readable description of the status of this operation."),
            col("First Seen", "string", "", 1, "The time at which the event was first recorded."),
            col("Count", "string", "", 1, "The number of times this event has occurred."),
            col("Name", "string", "", 1, "Name of the event."),
        ],
        Kind::Namespace => vec![
            name,
            col("Status", "string", "", 0, "The status of the namespace"),
            age,
        ],
        Kind::ServiceAccount => vec![
            name,
            col("Secrets", "string", "", 0, "Secrets is the list of secrets allowed to be used by pods running using this ServiceAccount"),
            age,
        ],
        Kind::Secret => vec![
            name,
            col("Type", "string", "", 0, "Used to facilitate programmatic handling of secret data."),
            col("Data", "string", "", 0, "Data contains the secret data."),
            age,
        ],
        Kind::Role | Kind::ClusterRole => vec![
            name,
            col("Created At", "date", "", 0, "CreationTimestamp is a timestamp representing the server time when this object was created."),
        ],
        Kind::RoleBinding | Kind::ClusterRoleBinding => vec![
            name,
            col("Role", "string", "", 0, "RoleRef can only reference the current namespace and the global namespace."),
            age,
        ],
        // Flux's CRDs print these (additionalPrinterColumns of v1).
        Kind::GitRepository => vec![
            name,
            col("URL", "string", "", 0, ".spec.url"),
            age,
            col("Ready", "string", "", 0, ".status.conditions[?(@.type==\"Ready\")].status"),
            col("Status", "string", "", 0, ".status.conditions[?(@.type==\"Ready\")].message"),
        ],
        Kind::Kustomization => vec![
            name,
            age,
            col("Ready", "string", "", 0, ".status.conditions[?(@.type==\"Ready\")].status"),
            col("Status", "string", "", 0, ".status.conditions[?(@.type==\"Ready\")].message"),
        ],
    })
}

/// `5m10s`, `3h`, `2d4h`: the apiserver's human-readable durations.
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    let s = secs.max(0);
    if s < 120 {
        return format!("{s}s");
    }
    let m = s / 60;
    if m < 10 {
        return if s % 60 == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{}s", s % 60)
        };
    }
    if m < 180 {
        return format!("{m}m");
    }
    let h = m / 60;
    if h < 8 {
        return if m % 60 == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{}m", m % 60)
        };
    }
    if h < 48 {
        return format!("{h}h");
    }
    let d = h / 24;
    if h < 24 * 8 {
        return if h % 24 == 0 {
            format!("{d}d")
        } else {
            format!("{d}d{}h", h % 24)
        };
    }
    if d < 365 * 2 {
        return format!("{d}d");
    }
    let y = d / 365;
    if d < 365 * 8 {
        return format!("{y}y{}d", d % 365);
    }
    format!("{y}y")
}

fn age(ts: &Value, now: DateTime<Utc>) -> String {
    match ts
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
    {
        Some(t) => human_duration((now - t.with_timezone(&Utc)).num_seconds()),
        None => "<unknown>".into(),
    }
}

fn num(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn template_cells(tpl_spec: &Value, selector: &Value) -> [String; 3] {
    let cs = tpl_spec["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = cs.iter().filter_map(|c| c["name"].as_str()).collect();
    let images: Vec<&str> = cs.iter().filter_map(|c| c["image"].as_str()).collect();
    let sel: Vec<String> = selector["matchLabels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    [names.join(","), images.join(","), sel.join(",")]
}

/// kubectl's STATUS text for a pod (`Init:0/1`, `Init:CrashLoopBackOff`,
/// `PodInitializing`, `Running`, `Terminating`, ...).
pub fn pod_status_text(pod: &Value) -> String {
    let st = &pod["status"];
    let mut reason = st["reason"]
        .as_str()
        .or(st["phase"].as_str())
        .unwrap_or("Pending")
        .to_string();
    let inits = st["initContainerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let n_inits = pod["spec"]["initContainers"].as_array().map_or(0, Vec::len);
    let mut initializing = false;
    for (i, c) in inits.iter().enumerate() {
        let state = &c["state"];
        if let Some(t) = state.get("terminated") {
            if num(&t["exitCode"]) == 0 {
                continue;
            }
            reason = match t["reason"].as_str() {
                Some(r) if !r.is_empty() => format!("Init:{r}"),
                _ => format!("Init:ExitCode:{}", num(&t["exitCode"])),
            };
        } else if let Some(r) = state["waiting"]["reason"]
            .as_str()
            .filter(|r| !r.is_empty() && *r != "PodInitializing")
        {
            reason = format!("Init:{r}");
        } else {
            reason = format!("Init:{i}/{n_inits}");
        }
        initializing = true;
        break;
    }
    if !initializing {
        let mut has_running = false;
        for c in st["containerStatuses"]
            .as_array()
            .into_iter()
            .flatten()
            .rev()
        {
            let state = &c["state"];
            if let Some(r) = state["waiting"]["reason"]
                .as_str()
                .filter(|r| !r.is_empty())
            {
                reason = r.to_string();
            } else if let Some(r) = state["terminated"]["reason"]
                .as_str()
                .filter(|r| !r.is_empty())
            {
                reason = r.to_string();
            } else if c["ready"] == true && state.get("running").is_some() {
                has_running = true;
            }
        }
        if reason == "Completed" && has_running {
            reason = "Running".into();
        }
    }
    if !pod["metadata"]["deletionTimestamp"].is_null() {
        reason = "Terminating".into();
    }
    reason
}

fn restarts_text(pod: &Value, now: DateTime<Utc>) -> String {
    let st = &pod["status"];
    let inits = st["initContainerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let apps = st["containerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let initializing = inits.iter().any(|c| {
        c["state"]
            .get("terminated")
            .is_none_or(|t| num(&t["exitCode"]) != 0)
    });
    let list = if initializing { &inits } else { &apps };
    let restarts: i64 = list.iter().map(|c| num(&c["restartCount"])).sum();
    let last = list
        .iter()
        .filter_map(|c| c["lastState"]["terminated"]["finishedAt"].as_str())
        .max();
    match last {
        Some(t) if restarts > 0 => format!("{restarts} ({} ago)", age(&json!(t), now)),
        _ => restarts.to_string(),
    }
}

/// The cells of one object's row.
pub fn cells(kind: Kind, obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let meta = &obj["metadata"];
    let name = json!(meta["name"].as_str().unwrap_or(""));
    let created = age(&meta["creationTimestamp"], now);
    match kind {
        Kind::Deployment => {
            let st = &obj["status"];
            let [c, i, s] =
                template_cells(&obj["spec"]["template"]["spec"], &obj["spec"]["selector"]);
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    num(&st["readyReplicas"]),
                    num(&obj["spec"]["replicas"])
                )),
                json!(num(&st["updatedReplicas"])),
                json!(num(&st["availableReplicas"])),
                json!(created),
                json!(c),
                json!(i),
                json!(s),
            ]
        }
        Kind::ReplicaSet => {
            let st = &obj["status"];
            let [c, i, s] =
                template_cells(&obj["spec"]["template"]["spec"], &obj["spec"]["selector"]);
            vec![
                name,
                json!(num(&obj["spec"]["replicas"])),
                json!(num(&st["replicas"])),
                json!(num(&st["readyReplicas"])),
                json!(created),
                json!(c),
                json!(i),
                json!(s),
            ]
        }
        Kind::Pod => {
            let apps = obj["status"]["containerStatuses"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let total = obj["spec"]["containers"].as_array().map_or(0, Vec::len);
            let ready = apps.iter().filter(|c| c["ready"] == true).count();
            vec![
                name,
                json!(format!("{ready}/{total}")),
                json!(pod_status_text(obj)),
                json!(restarts_text(obj, now)),
                json!(created),
                json!(obj["status"]["podIP"].as_str().unwrap_or("<none>")),
                json!(obj["spec"]["nodeName"].as_str().unwrap_or("<none>")),
                json!("<none>"),
                json!("<none>"),
            ]
        }
        Kind::Event => {
            let inv = &obj["involvedObject"];
            let object = format!(
                "{}/{}",
                inv["kind"].as_str().unwrap_or("").to_lowercase(),
                inv["name"].as_str().unwrap_or("")
            );
            vec![
                json!(age(&obj["lastTimestamp"], now)),
                obj["type"].clone(),
                obj["reason"].clone(),
                json!(object),
                json!(inv["fieldPath"].as_str().unwrap_or("")),
                json!(obj["source"]["component"].as_str().unwrap_or("")),
                obj["message"].clone(),
                json!(age(&obj["firstTimestamp"], now)),
                json!(num(&obj["count"]).to_string()),
                name,
            ]
        }
        Kind::Namespace => vec![
            name,
            json!(obj["status"]["phase"].as_str().unwrap_or("Active")),
            json!(created),
        ],
        Kind::ServiceAccount => vec![
            name,
            json!(obj["secrets"].as_array().map_or(0, Vec::len).to_string()),
            json!(created),
        ],
        Kind::Secret => vec![
            name,
            json!(obj["type"].as_str().unwrap_or("Opaque")),
            json!(obj["data"].as_object().map_or(0, |m| m.len()).to_string()),
            json!(created),
        ],
        Kind::Role | Kind::ClusterRole => vec![name, meta["creationTimestamp"].clone()],
        Kind::RoleBinding | Kind::ClusterRoleBinding => vec![
            name,
            json!(format!(
                "{}/{}",
                obj["roleRef"]["kind"].as_str().unwrap_or(""),
                obj["roleRef"]["name"].as_str().unwrap_or("")
            )),
            json!(created),
        ],
        Kind::GitRepository => {
            let (ready, message) = ready_condition(obj);
            vec![
                name,
                json!(obj["spec"]["url"].as_str().unwrap_or("")),
                json!(created),
                json!(ready),
                json!(message),
            ]
        }
        Kind::Kustomization => {
            let (ready, message) = ready_condition(obj);
            vec![name, json!(created), json!(ready), json!(message)]
        }
    }
}

/// The status and message of a Flux object's `Ready` condition.
fn ready_condition(obj: &Value) -> (String, String) {
    obj["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        .map(|c| {
            (
                c["status"].as_str().unwrap_or("").to_string(),
                c["message"].as_str().unwrap_or("").to_string(),
            )
        })
        .unwrap_or_default()
}

/// One Table row.
pub fn row(kind: Kind, obj: &Value, include: IncludeObject, now: DateTime<Utc>) -> Value {
    let object = match include {
        IncludeObject::None => Value::Null,
        IncludeObject::Object => obj.clone(),
        IncludeObject::Metadata => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj["metadata"].clone(),
        }),
    };
    let mut r = json!({"cells": cells(kind, obj, now)});
    if !object.is_null() {
        r["object"] = object;
    }
    r
}

/// A Table of `objs`; `with_columns` is false for watch events after the first.
pub fn table(
    kind: Kind,
    objs: &[&Value],
    resource_version: &str,
    include: IncludeObject,
    with_columns: bool,
    now: DateTime<Utc>,
) -> Value {
    let mut t = json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "rows": objs.iter().map(|o| row(kind, o, include, now)).collect::<Vec<_>>(),
    });
    if with_columns {
        t["columnDefinitions"] = columns(kind);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(130), "2m10s");
        assert_eq!(human_duration(600), "10m");
        assert_eq!(human_duration(7200), "120m");
        assert_eq!(human_duration(4 * 3600 + 60), "4h1m");
        assert_eq!(human_duration(30 * 3600), "30h");
        assert_eq!(human_duration(3 * 86400), "3d");
    }

    #[test]
    fn pod_status_texts() {
        let pod = json!({"spec": {"initContainers": [{"name": "migrate"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [
                {"name": "migrate", "state": {"running": {}}}]}});
        assert_eq!(pod_status_text(&pod), "Init:0/1");
        let pod = json!({"spec": {"initContainers": [{"name": "migrate"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [
                {"name": "migrate", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}});
        assert_eq!(pod_status_text(&pod), "Init:CrashLoopBackOff");
        let pod = json!({"spec": {"initContainers": [{"name": "migrate"}]},
            "status": {"phase": "Pending",
                "initContainerStatuses": [{"state": {"terminated": {"exitCode": 0}}}],
                "containerStatuses": [{"state": {"waiting": {"reason": "PodInitializing"}}}]}});
        assert_eq!(pod_status_text(&pod), "PodInitializing");
        let pod = json!({"metadata": {"deletionTimestamp": "x"}, "status": {"phase": "Running"}});
        assert_eq!(pod_status_text(&pod), "Terminating");
    }
}
