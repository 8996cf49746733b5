//! PATCH bodies as kubectl and kube send them: strategic-merge (lists of
//! named things merged by their merge key, as `kubectl set image` relies
//! on), JSON merge patch and JSON patch (`kubectl rollout undo`). Called by
//! the HTTP handlers.

use serde_json::{Map, Value};

/// The patch flavours, chosen by the request's Content-Type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchKind {
    Strategic,
    Merge,
    Json,
    /// Server-side apply (`application/apply-patch+yaml`): the applied
    /// configuration merged into the live object, lists of named things by
    /// their key and other lists replaced, as the list types declare. Field
    /// ownership (removing what a manager stopped applying, conflicts between
    /// managers) is not modelled.
    Apply,
}

impl PatchKind {
    /// The flavour named by a PATCH Content-Type, if any.
    pub fn from_content_type(ct: &str) -> Option<PatchKind> {
        let ct = ct.split(';').next().unwrap_or("").trim();
        match ct {
            "application/strategic-merge-patch+json" => Some(PatchKind::Strategic),
            "application/merge-patch+json" => Some(PatchKind::Merge),
            "application/json-patch+json" => Some(PatchKind::Json),
            "application/apply-patch+yaml" => Some(PatchKind::Apply),
            _ => None,
        }
    }
}

/// Apply `patch` of `kind` to `doc`.
pub fn apply(doc: &Value, kind: PatchKind, patch: &Value) -> Result<Value, String> {
    let mut out = doc.clone();
    match kind {
        PatchKind::Merge => json_patch::merge(&mut out, patch),
        PatchKind::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| format!("invalid JSON patch: {e}"))?;
            json_patch::patch(&mut out, &ops).map_err(|e| format!("JSON patch failed: {e}"))?;
        }
        PatchKind::Strategic | PatchKind::Apply => {
            if !patch.is_object() {
                return Err("a strategic merge patch must be a JSON object".into());
            }
            out = strategic(doc, patch);
        }
    }
    Ok(out)
}

/// The merge key of a list field, by field name, as the Kubernetes API
/// types declare them (`patchMergeKey`). Lists without one are replaced.
fn merge_key(field: &str) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets" => "name",
        "hostAliases" => "ip",
        "ports" => "containerPort",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "conditions" => "type",
        "ownerReferences" => "uid",
        _ => return None,
    })
}

fn strategic(doc: &Value, patch: &Value) -> Value {
    let (Some(d), Some(p)) = (doc.as_object(), patch.as_object()) else {
        return strip_directives(patch);
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut p = p.clone();
        p.remove("$patch");
        return strip_directives(&Value::Object(p));
    }
    let mut out: Map<String, Value> = d.clone();
    let mut orders: Vec<(String, Vec<Value>)> = Vec::new();
    for (k, pv) in p {
        if let Some(list_field) = k.strip_prefix("$setElementOrder/") {
            if let Some(arr) = pv.as_array() {
                orders.push((list_field.to_string(), arr.clone()));
            }
            continue;
        }
        if k.starts_with('$') {
            continue;
        }
        if pv.is_null() {
            out.remove(k);
            continue;
        }
        let merged = match (out.get(k), pv) {
            (Some(dv @ Value::Object(_)), Value::Object(_)) => strategic(dv, pv),
            (Some(Value::Array(da)), Value::Array(pa)) => match merge_key(k) {
                Some(mk) => merge_list(da, pa, mk),
                None => strip_directives(pv),
            },
            (None, Value::Array(pa)) => Value::Array(
                pa.iter()
                    .filter(|e| e.get("$patch").and_then(Value::as_str) != Some("delete"))
                    .map(strip_directives)
                    .collect(),
            ),
            _ => strip_directives(pv),
        };
        out.insert(k.clone(), merged);
    }
    // `$setElementOrder/<list>` gives the wanted order of merged elements.
    for (list_field, order) in orders {
        let Some(mk) = merge_key(&list_field) else {
            continue;
        };
        if let Some(Value::Array(items)) = out.get(&list_field) {
            let mut sorted: Vec<Value> = Vec::new();
            for o in &order {
                if let Some(item) = items.iter().find(|i| i.get(mk) == o.get(mk)) {
                    sorted.push(item.clone());
                }
            }
            for item in items {
                if !sorted.contains(item) {
                    sorted.push(item.clone());
                }
            }
            out.insert(list_field, Value::Array(sorted));
        }
    }
    Value::Object(out)
}

fn merge_list(doc: &[Value], patch: &[Value], mk: &str) -> Value {
    let mut out: Vec<Value> = doc.to_vec();
    for pe in patch {
        let key = pe.get(mk);
        let pos = key.and_then(|key| out.iter().position(|e| e.get(mk) == Some(key)));
        let delete = pe.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(i), true) => {
                out.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => out[i] = strategic(&out[i], pe),
            (None, false) => out.push(strip_directives(pe)),
        }
    }
    Value::Array(out)
}

/// Remove `$…` directive keys and nulls from a value that is inserted as is.
fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, v)| !k.starts_with('$') && !v.is_null())
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merges_containers_by_name() {
        let doc = json!({"spec": {"template": {"spec": {
        "initContainers": [{"name": "migrate", "image": "x:1"}],
        "containers": [
            {"name": "api", "image": "x:1", "ports": [{"containerPort": 80}]},
            {"name": "side", "image": "y:1"}
        ]}}}});
        let patch = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "api"}, {"name": "side"}],
            "containers": [{"name": "api", "image": "x:2"}]}}}});
        let out = apply(&doc, PatchKind::Strategic, &patch).unwrap();
        let cs = &out["spec"]["template"]["spec"]["containers"];
        assert_eq!(cs[0]["image"], "x:2");
        assert_eq!(cs[0]["ports"][0]["containerPort"], 80);
        assert_eq!(cs[1]["image"], "y:1");
        assert_eq!(
            out["spec"]["template"]["spec"]["initContainers"][0]["image"],
            "x:1"
        );
    }

    #[test]
    fn strategic_delete_and_null() {
        let doc = json!({"metadata": {"annotations": {"a": "1", "b": "2"}},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let patch = json!({"metadata": {"annotations": {"a": null}},
            "spec": {"containers": [{"name": "b", "$patch": "delete"}]}});
        let out = apply(&doc, PatchKind::Strategic, &patch).unwrap();
        assert_eq!(out["metadata"]["annotations"], json!({"b": "2"}));
        assert_eq!(out["spec"]["containers"], json!([{"name": "a"}]));
    }

    #[test]
    fn merge_and_json_patch() {
        let doc = json!({"spec": {"replicas": 2, "paused": false}});
        let out = apply(&doc, PatchKind::Merge, &json!({"spec": {"replicas": 3}})).unwrap();
        assert_eq!(out["spec"]["replicas"], 3);
        let out = apply(
            &doc,
            PatchKind::Json,
            &json!([{"op": "replace", "path": "/spec/replicas", "value": 5}]),
        )
        .unwrap();
        assert_eq!(out["spec"]["replicas"], 5);
        assert!(apply(&doc, PatchKind::Json, &json!({"bad": 1})).is_err());
    }
}
