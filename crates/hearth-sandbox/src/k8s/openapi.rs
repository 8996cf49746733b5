//! `/openapi/v3`: the index of group-version documents and, per group
//! version, an OpenAPI 3 document with the paths and operations the sandbox
//! serves. kubectl reads it before every `-f` write to learn whether the
//! server validates fields itself (the `fieldValidation` parameter on each
//! kind's PATCH); when it does, kubectl sends `fieldValidation=Strict` and
//! skips client-side schema validation. The documents carry no component
//! schemas: clients fall back to their compiled-in types for those.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::store::Kind;

/// The group versions served, as `/openapi/v3` names them.
const GROUP_VERSIONS: [(&str, &str); 5] = [
    ("api/v1", ""),
    ("apis/apps/v1", "apps"),
    (
        "apis/rbac.authorization.k8s.io/v1",
        "rbac.authorization.k8s.io",
    ),
    (
        "apis/source.toolkit.fluxcd.io/v1",
        "source.toolkit.fluxcd.io",
    ),
    (
        "apis/kustomize.toolkit.fluxcd.io/v1",
        "kustomize.toolkit.fluxcd.io",
    ),
];

/// The `/openapi/v3` index: each group version's document URL, with a
/// content hash as the apiserver gives (clients cache by it).
pub fn index() -> Value {
    let mut paths = Map::new();
    for (gv, group) in GROUP_VERSIONS {
        let body = serde_json::to_vec(&document(group)).unwrap_or_default();
        let hash = hex::encode(&Sha256::digest(&body)[..16]).to_uppercase();
        paths.insert(
            gv.to_string(),
            json!({"serverRelativeURL": format!("/openapi/v3/{gv}?hash={hash}")}),
        );
    }
    json!({ "paths": paths })
}

/// The document of `path` (`api/v1`, `apis/apps/v1`, …), if served.
pub fn for_path(path: &str) -> Option<Value> {
    GROUP_VERSIONS
        .iter()
        .find(|(gv, _)| *gv == path)
        .map(|(_, group)| document(group))
}

fn query_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "description": description,
        "schema": {"type": "string", "uniqueItems": true}})
}

/// The query parameters of a write, as the apiserver declares them.
fn write_params(apply: bool) -> Vec<Value> {
    let mut params = vec![
        query_param(
            "dryRun",
            "When present, indicates that modifications should not be persisted.",
        ),
        query_param(
            "fieldManager",
            "A name associated with the actor or entity that is making these changes.",
        ),
        query_param(
            "fieldValidation",
            "Ignore, Warn or Strict: what the server does with unknown or duplicate fields.",
        ),
    ];
    if apply {
        params.push(json!({"name": "force", "in": "query",
            "description": "Force is going to \"force\" Apply requests.",
            "schema": {"type": "boolean", "uniqueItems": true}}));
    }
    params
}

fn operation(kind: Kind, action: &str, id: &str, params: Vec<Value>) -> Value {
    json!({
        "operationId": id,
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": kind.group(), "version": "v1", "kind": kind.kind()},
        "parameters": params,
        "responses": {"200": {"description": "OK"}, "401": {"description": "Unauthorized"}},
    })
}

fn document(group: &str) -> Value {
    let prefix = if group.is_empty() {
        "/api/v1".to_string()
    } else {
        format!("/apis/{group}/v1")
    };
    let mut paths = Map::new();
    for kind in Kind::ALL.into_iter().filter(|k| k.group() == group) {
        let collection = if kind.namespaced() {
            format!("{prefix}/namespaces/{{namespace}}/{}", kind.plural())
        } else {
            format!("{prefix}/{}", kind.plural())
        };
        let id = |verb: &str| format!("{verb}{}", kind.kind());
        let mut coll = json!({
            "get": operation(kind, "list", &id("list"), vec![]),
        });
        let mut item = json!({
            "get": operation(kind, "get", &id("read"), vec![]),
        });
        if kind != Kind::Event {
            item["put"] = operation(kind, "put", &id("replace"), write_params(false));
            item["patch"] = operation(kind, "patch", &id("patch"), write_params(true));
            item["delete"] = operation(kind, "delete", &id("delete"), vec![]);
        }
        if kind.creatable() {
            coll["post"] = operation(kind, "post", &id("create"), write_params(false));
        }
        paths.insert(format!("{collection}/{{name}}"), item);
        paths.insert(collection, coll);
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0-hearth-sandbox"},
        "paths": paths,
        "components": {"schemas": {}},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_writable_kind_declares_field_validation_on_patch() {
        for (gv, group) in GROUP_VERSIONS {
            let doc = for_path(gv).unwrap();
            for kind in Kind::ALL.into_iter().filter(|k| k.group() == group) {
                let found = doc["paths"].as_object().unwrap().values().any(|p| {
                    p["patch"]["x-kubernetes-group-version-kind"]["kind"] == kind.kind()
                        && p["patch"]["parameters"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|q| q["name"] == "fieldValidation" && q["in"] == "query")
                });
                assert_eq!(found, kind != Kind::Event, "{gv} {}", kind.kind());
            }
        }
        let idx = index();
        assert!(idx["paths"]["apis/apps/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap()
            .starts_with("/openapi/v3/apis/apps/v1?hash="));
        assert!(for_path("apis/batch/v1").is_none());
    }
}
