//! Helm release history without the helm binary: Helm 3 keeps each
//! revision of a release in a Secret `sh.helm.release.v1.NAME.vN` (labels
//! `owner=helm`, `name=NAME`, `status`, `version`) whose `release` field is
//! the release as JSON, gzip-compressed and base64-encoded by Helm (and
//! base64-encoded again as Secret data, which the client already undoes).
//! Read only where the registry asks (`helm_history: true`): reading Secrets
//! is a strong right. The payload is untrusted: its size after
//! decompression is bounded and every string is made one inert line.

use std::io::Read;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{classify, KubeClient};
use crate::model::{text, Problem, ProblemKind};
use crate::registry::Registry;

/// How often each history is read.
pub const PERIOD: Duration = Duration::from_secs(30);
/// At most this many bytes of JSON after decompression (Helm's own release
/// size limit is 1 MiB of Secret; a chart's manifest fits well within 8).
const MAX_RELEASE_BYTES: u64 = 8 << 20;
/// Revisions kept, newest first (`helm history --max` defaults to 256;
/// the detail pane shows a few).
const KEEP: usize = 10;

pub use crate::model::helm::{HelmHistory, HelmRevision};

/// What the reader reports for one environment.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub service: String,
    pub env: String,
    /// `Ok(None)`: the Deployment is not managed by Helm.
    pub history: Result<Option<HelmHistory>, Problem>,
}

/// Decode a release Secret's `release` field (the bytes after the Secret's
/// own base64): Helm's base64 of gzip of JSON (plain JSON is accepted too,
/// as Helm reads it).
pub fn decode_release(field: &[u8]) -> Result<HelmRevision, String> {
    use base64::Engine;
    let text: Vec<u8> = field
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&text)
        .map_err(|e| format!("the release is not base64: {e}"))?;
    let mut json = Vec::new();
    if bytes.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(&bytes[..])
            .take(MAX_RELEASE_BYTES + 1)
            .read_to_end(&mut json)
            .map_err(|e| format!("the release is not gzip: {e}"))?;
        if json.len() as u64 > MAX_RELEASE_BYTES {
            return Err(format!(
                "the release is larger than {} MiB once decompressed",
                MAX_RELEASE_BYTES >> 20
            ));
        }
    } else {
        json = bytes;
    }
    let v: serde_json::Value =
        serde_json::from_slice(&json).map_err(|e| format!("the release is not JSON: {e}"))?;
    let s = |p: &str| text::line(v.pointer(p).and_then(|x| x.as_str()).unwrap_or("")).into_owned();
    let revision = v
        .get("version")
        .and_then(serde_json::Value::as_u64)
        .ok_or("the release names no version")?;
    let (name, version) = (s("/chart/metadata/name"), s("/chart/metadata/version"));
    Ok(HelmRevision {
        revision,
        status: s("/info/status"),
        chart: if version.is_empty() {
            name
        } else {
            format!("{name}-{version}")
        },
        app_version: s("/chart/metadata/appVersion"),
        updated: s("/info/last_deployed"),
        description: s("/info/description"),
    })
}

/// The history of the Helm release managing `deployment` in `ns`, or
/// `None` when Helm does not manage it.
pub async fn read(
    kube: &KubeClient,
    ns: &str,
    deployment: &str,
) -> Result<Option<HelmHistory>, Problem> {
    let deploy = kube.deployment(ns, deployment).await?;
    let Some(release) = super::derive::helm_release(&deploy) else {
        return Ok(None);
    };
    let rights = format!(
        "list on secrets (helm_history reads Helm's release Secrets in {ns}; give the right, or drop helm_history)"
    );
    let secrets = Api::<Secret>::namespaced(kube.client.clone(), ns)
        .list(&ListParams::default().labels(&format!("owner=helm,name={release}")))
        .await
        .map_err(|e| classify(&e, &kube.at, ns, &rights))?;
    let mut revisions = Vec::new();
    for s in &secrets.items {
        let name = s.metadata.name.clone().unwrap_or_default();
        let Some(field) = s.data.as_ref().and_then(|d| d.get("release")) else {
            continue;
        };
        let rev = decode_release(&field.0).map_err(|why| {
            Problem::new(
                ProblemKind::Server,
                format!(
                    "Helm's release Secret {} in {ns} cannot be read: {why}",
                    text::line(&name)
                ),
                format!("helm history {release} -n {ns}"),
            )
        })?;
        revisions.push(rev);
    }
    revisions.sort_by_key(|r| std::cmp::Reverse(r.revision));
    revisions.truncate(KEEP);
    Ok(Some(HelmHistory { release, revisions }))
}

/// Start reading the Helm history of every environment whose registry
/// entry asks for it; `None` when none does. One read every `PERIOD / n`;
/// only changes are sent.
pub fn spawn(
    registry: &Registry,
    kube: &super::Settings,
    tx: mpsc::Sender<Event>,
) -> Option<JoinHandle<()>> {
    let targets: Vec<(String, String, String, Option<String>, String)> = registry
        .services
        .iter()
        .flat_map(|s| {
            s.environments
                .iter()
                .filter(|e| s.reads_helm_history(e))
                .map(move |e| {
                    (
                        s.name.clone(),
                        e.name.clone(),
                        e.namespace.clone(),
                        e.context.clone(),
                        s.k8s_name.clone(),
                    )
                })
        })
        .collect();
    if targets.is_empty() {
        return None;
    }
    let default_context = kube.context.clone();
    let kubeconfig = kube.kubeconfig.clone();
    Some(tokio::spawn(async move {
        let gap = (PERIOD / targets.len() as u32).max(Duration::from_millis(200));
        let mut clients: std::collections::HashMap<Option<String>, KubeClient> =
            std::collections::HashMap::new();
        let mut last: Vec<Option<Result<Option<HelmHistory>, Problem>>> = vec![None; targets.len()];
        // The first pass reads every history soon; then one every `gap`.
        let mut first = true;
        loop {
            for (i, (service, env, ns, context, deployment)) in targets.iter().enumerate() {
                let context = context.clone().or_else(|| default_context.clone());
                let client = match clients.get(&context) {
                    Some(c) => Ok(c.clone()),
                    None => KubeClient::new(context.as_deref(), kubeconfig.as_deref())
                        .await
                        .inspect(|c| {
                            clients.insert(context.clone(), c.clone());
                        }),
                };
                let history = match client {
                    Ok(c) => read(&c, ns, deployment).await,
                    Err(p) => Err(p),
                };
                if last[i].as_ref() != Some(&history) {
                    last[i] = Some(history.clone());
                    let event = Event {
                        service: service.clone(),
                        env: env.clone(),
                        history,
                    };
                    if tx.send(event).await.is_err() {
                        return;
                    }
                }
                tokio::time::sleep(if first {
                    Duration::from_millis(200)
                } else {
                    gap
                })
                .await;
            }
            first = false;
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A release encoded by the real tools (`gzip`, `base64`), not by the
    /// code that reads it.
    #[test]
    fn a_release_gzip_and_base64_encoded_by_the_tools_decodes() {
        let release = r#"{"name":"billing","version":3,"info":{"status":"deployed","last_deployed":"2026-12-03T10:00:00Z","description":"Upgrade complete"},"chart":{"metadata":{"name":"billing","version":"0.4.0","appVersion":"v2.1.0"}}}"#;
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg("gzip -c | base64 -w0")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(release.as_bytes())?;
                child.wait_with_output()
            })
            .expect("gzip and base64 run");
        let rev = decode_release(&out.stdout).unwrap();
        assert_eq!(
            rev,
            HelmRevision {
                revision: 3,
                status: "deployed".into(),
                chart: "billing-0.4.0".into(),
                app_version: "v2.1.0".into(),
                updated: "2026-12-03T10:00:00Z".into(),
                description: "Upgrade complete".into(),
            }
        );
    }

    /// Hostile payloads: a gzip bomb is refused at the bound, escape
    /// sequences become inert, garbage is an error, never a panic.
    #[test]
    fn hostile_releases_are_refused_or_made_inert() {
        use base64::Engine;
        use std::io::Write;
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(b"{\"version\":1,\"x\":\"").unwrap();
        let zeros = vec![b'0'; 1 << 20];
        for _ in 0..9 {
            gz.write_all(&zeros).unwrap();
        }
        let bomb = gz.finish().unwrap();
        let err = decode_release(b64(&bomb).as_bytes()).unwrap_err();
        assert!(err.contains("larger than 8 MiB"), "{err}");
        let hostile = r#"{"version":2,"info":{"status":"deployed","description":"\u001b]0;owned\u0007\u001b[2Jok"}}"#;
        let rev = decode_release(b64(hostile.as_bytes()).as_bytes()).unwrap();
        assert!(
            !rev.description.contains('\u{1b}') && !rev.description.contains('\u{7}'),
            "{:?}",
            rev.description
        );
        assert!(decode_release(b"not base64 !!").is_err());
        assert!(decode_release(b64(b"\x1f\x8bnot gzip").as_bytes()).is_err());
        assert!(decode_release(b64(b"{}").as_bytes()).is_err(), "no version");
    }
}
