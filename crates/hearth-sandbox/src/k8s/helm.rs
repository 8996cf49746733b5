//! Helm-managed demo Deployments: the labels and annotations `helm install`
//! leaves on what it creates, and Helm's release Secrets
//! (`sh.helm.release.v1.NAME.vN`, type `helm.sh/release.v1`, labels
//! `owner=helm`, `name`, `status`, `version`), one per revision, written the
//! way Helm 3 writes them: the release as JSON, gzip-compressed, base64
//! encoded by Helm, and base64 encoded again as the Secret's data. Each
//! deploy of such a service by the simulated CI (`helm upgrade`) adds a
//! revision and marks the one before `superseded`.

use std::io::Write;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{auth, rfc3339, Inner, Kind};

/// The demo services a chart deploys (seed 004's inter-hub).
pub(crate) const MANAGED: &[&str] = &["billing"];

/// The chart every Helm-managed demo service is deployed from.
const CHART_VERSION: &str = "0.4.0";

/// The labels and annotations Helm puts on a Deployment it manages.
pub(crate) fn mark(dep: &mut Value, release: &str, ns: &str) {
    dep["metadata"]["labels"]["app.kubernetes.io/managed-by"] = json!("Helm");
    dep["metadata"]["labels"]["helm.sh/chart"] = json!(format!("{release}-{CHART_VERSION}"));
    dep["metadata"]["annotations"]["meta.helm.sh/release-name"] = json!(release);
    dep["metadata"]["annotations"]["meta.helm.sh/release-namespace"] = json!(ns);
}

/// The release Helm would record for revision `version` deploying `tag`.
fn release(
    name: &str,
    ns: &str,
    version: u32,
    status: &str,
    tag: &str,
    first: DateTime<Utc>,
    at: DateTime<Utc>,
) -> Value {
    let description = if version == 1 {
        "Install complete"
    } else {
        "Upgrade complete"
    };
    json!({
        "name": name,
        "namespace": ns,
        "version": version,
        "info": {
            "first_deployed": rfc3339(first),
            "last_deployed": rfc3339(at),
            "deleted": "",
            "description": description,
            "status": status,
        },
        "chart": {
            "metadata": {"name": name, "version": CHART_VERSION, "appVersion": tag, "apiVersion": "v2"},
            "templates": [],
            "values": {"image": {"tag": tag}},
        },
        "config": {"image": {"tag": tag}},
        "manifest": format!("---\n# Source: {name}/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\n"),
    })
}

/// Helm's encoding of a release: JSON, gzip, base64.
fn encode(release: &Value) -> String {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = gz.write_all(release.to_string().as_bytes());
    let bytes = gz.finish().unwrap_or_default();
    auth::encode_base64(&bytes)
}

fn secret(rel: &Value, status: &str, at: DateTime<Utc>) -> Value {
    let name = rel["name"].as_str().unwrap_or_default();
    let ns = rel["namespace"].as_str().unwrap_or_default();
    let version = rel["version"].as_u64().unwrap_or(1);
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": format!("sh.helm.release.v1.{name}.v{version}"),
            "namespace": ns,
            "labels": {
                "name": name,
                "owner": "helm",
                "status": status,
                "version": version.to_string(),
                "modifiedAt": at.timestamp().to_string(),
            },
            "creationTimestamp": rfc3339(at),
        },
        "type": "helm.sh/release.v1",
        "data": {"release": auth::encode_base64(encode(rel).as_bytes())},
    })
}

/// Record revision 1 of `release` in `ns`, deploying `tag` at `at`.
pub(crate) fn install(inner: &mut Inner, release: &str, ns: &str, tag: &str, at: DateTime<Utc>) {
    let rel = self::release(release, ns, 1, "deployed", tag, at, at);
    let _ = inner
        .store
        .create(Kind::Secret, secret(&rel, "deployed", at));
}

/// `helm upgrade`: the deployed revision becomes `superseded`, a new one
/// deploying `tag` is `deployed`.
pub(crate) fn upgrade(inner: &mut Inner, release: &str, ns: &str, tag: &str, at: DateTime<Utc>) {
    let prefix = format!("sh.helm.release.v1.{release}.v");
    let existing: Vec<Value> = inner
        .store
        .list(Kind::Secret, Some(ns))
        .into_iter()
        .filter(|s| {
            s["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .cloned()
        .collect();
    let version = |s: &Value| {
        s["metadata"]["labels"]["version"]
            .as_str()
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    };
    let last = existing.iter().map(version).max().unwrap_or(0);
    let first = existing
        .iter()
        .find(|s| version(s) == 1)
        .and_then(|s| s["metadata"]["creationTimestamp"].as_str())
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or(at, |t| t.with_timezone(&Utc));
    for mut s in existing {
        if s["metadata"]["labels"]["status"] == "deployed" {
            // The stored release says superseded too, as Helm rewrites it.
            let rel = decode_secret(&s).map(|mut r| {
                r["info"]["status"] = json!("superseded");
                r
            });
            if let Some(rel) = rel {
                s["data"]["release"] = json!(auth::encode_base64(encode(&rel).as_bytes()));
            }
            s["metadata"]["labels"]["status"] = json!("superseded");
            s["metadata"]["labels"]["modifiedAt"] = json!(at.timestamp().to_string());
            let _ = inner.store.update(Kind::Secret, s, None);
        }
    }
    let rel = self::release(release, ns, last + 1, "deployed", tag, first, at);
    let _ = inner
        .store
        .create(Kind::Secret, secret(&rel, "deployed", at));
}

/// The release a Secret holds (for rewriting its status).
fn decode_secret(s: &Value) -> Option<Value> {
    use std::io::Read;
    let outer = auth::decode_base64(s["data"]["release"].as_str()?)?;
    let inner = auth::decode_base64(std::str::from_utf8(&outer).ok()?)?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(&inner[..])
        .read_to_string(&mut text)
        .ok()?;
    serde_json::from_str(&text).ok()
}
