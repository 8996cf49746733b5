//! Fuzz targets (property-based, with proptest): the registry loader, the
//! theme loader, the parsers of GitHub's and Kubernetes' answers and Helm's
//! release payloads take
//! hostile input without panicking or hanging, refuse bad registries with a
//! located problem, and never let a control character through.
//!
//! Each target runs for `HEARTH_FUZZ_SECS` seconds (default 3, so a plain
//! `cargo test` stays quick; CI sets 60). A finding is shrunk by proptest and
//! printed; it then belongs in `REGRESSIONS` or a unit test beside the code
//! it broke. Run one target for longer:
//!     HEARTH_FUZZ_SECS=1800 cargo test --release --test fuzz registry -- --nocapture

use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Value};

use hearth::model::text;
use hearth::registry::{self, Service};
use hearth::ui::theme::Theme;

/// Run `property` over `strategy` until the time budget is spent.
fn fuzz<S: Strategy>(
    name: &str,
    strategy: S,
    property: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let secs: u64 = std::env::var("HEARTH_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut cases = 0u64;
    while Instant::now() < deadline {
        let mut runner = TestRunner::new(Config {
            cases: 64,
            failure_persistence: None,
            ..Config::default()
        });
        if let Err(e) = runner.run(&strategy, &property) {
            panic!("{name}: {e}");
        }
        cases += 64;
    }
    eprintln!("{name}: {cases} cases in {secs} s");
}

/// Strings an attacker would try: escape sequences, C0/C1 controls, bidi
/// overrides, YAML syntax, long runs.
fn hostile() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("\u{1b}]0;pwned\u{7}".to_string()),
        Just("\u{1b}[2J".to_string()),
        Just("\u{9b}31m".to_string()),
        Just("\u{1b}P+q\u{1b}\\".to_string()),
        Just("\u{202e}".to_string()),
        Just("\r".to_string()),
        Just("\t".to_string()),
        Just("\n".to_string()),
        Just("\u{7f}".to_string()),
        Just("\u{0}".to_string()),
        Just("v0.0.28".to_string()),
        Just("ghcr.io/acme/api".to_string()),
        Just(": ".to_string()),
        Just("&a ".to_string()),
        Just("*a".to_string()),
        Just("- ".to_string()),
        Just("{".to_string()),
        Just("\"".to_string()),
        "[ -~]{0,12}",
        any::<char>().prop_map(|c| c.to_string()),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

/// Whether any character of `s` could act on a terminal.
fn inert(s: &str) -> bool {
    !text::is_hostile(s)
}

/// Every string in a JSON value, recursively.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.iter().for_each(|(k, x)| {
            out.push(k.clone());
            strings(x, out)
        }),
        _ => {}
    }
}

fn all_inert(v: &impl serde::Serialize) -> Result<(), TestCaseError> {
    let mut found = Vec::new();
    strings(&serde_json::to_value(v).unwrap(), &mut found);
    for s in found {
        prop_assert!(inert(&s), "a control character got through: {s:?}");
    }
    Ok(())
}

/// A registry document: lines of keys the loader knows, hostile values,
/// anchors and aliases, at random indents.
fn registry_text() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        prop::sample::select(registry::SERVICE_KEYS.to_vec()).prop_map(str::to_string),
        prop::sample::select(vec![
            "api",
            "hearth",
            "environments",
            "qa",
            "prod",
            "namespace",
            "ci",
            "<<"
        ])
        .prop_map(str::to_string),
        hostile(),
    ];
    let line = (0usize..4, key, hostile(), any::<bool>()).prop_map(|(indent, k, v, quoted)| {
        let v = if quoted {
            format!("{v:?}")
        } else {
            v.replace('\n', " ")
        };
        format!("{}{k}: {v}", "  ".repeat(indent))
    });
    prop::collection::vec(line, 0..24).prop_map(|l| l.join("\n"))
}

#[test]
fn registry_loader() {
    let base = std::path::Path::new("/tmp");
    let file = std::path::Path::new("services.yaml");
    fuzz("registry", registry_text(), |doc| {
        let started = Instant::now();
        let result = registry::load_str(&doc, file, base);
        prop_assert!(started.elapsed() < Duration::from_secs(1), "slow: {doc:?}");
        match result {
            Ok(reg) => {
                for svc in &reg.services {
                    prop_assert!(inert(&svc.name));
                    prop_assert!(svc.image.as_deref().is_none_or(inert));
                    prop_assert!(inert(&svc.k8s_name));
                    prop_assert!(svc.shippable_reason.as_deref().is_none_or(inert));
                    for e in &svc.environments {
                        prop_assert!(inert(&e.name) && inert(&e.namespace));
                    }
                }
            }
            Err(err) => {
                for p in &err.problems {
                    prop_assert!(p.pos.is_some(), "unlocated: {p:?} in {doc:?}");
                }
                // One line per problem; no line holds a control character.
                for line in err.to_string().lines() {
                    prop_assert!(inert(line), "{line:?}");
                }
            }
        }
        Ok(())
    });
}

#[test]
fn theme_loader() {
    let role = prop::sample::select(vec![
        "name",
        "styles",
        "accents",
        "title",
        "selected",
        "error",
        "fg",
        "bg",
        "prod",
        "modifiers",
    ]);
    let line = (0usize..3, role, hostile())
        .prop_map(|(i, k, v)| format!("{}{k}: {}", "  ".repeat(i), v.replace('\n', " ")));
    let doc = prop::collection::vec(line, 0..16).prop_map(|l| l.join("\n"));
    fuzz("theme", doc, |doc| {
        let started = Instant::now();
        match Theme::parse(&doc, "fuzz.yaml") {
            Ok(theme) => prop_assert!(inert(&theme.name)),
            Err(e) => prop_assert!(inert(&e.0), "{:?}", e.0),
        }
        prop_assert!(started.elapsed() < Duration::from_secs(1));
        Ok(())
    });
}

/// A JSON value of GitHub's shapes with hostile leaves and wrong types.
fn github_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        hostile().prop_map(Value::String),
        any::<i64>().prop_map(|n| json!(n)),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ];
    let field = prop::sample::select(vec![
        "id",
        "tag_name",
        "name",
        "draft",
        "prerelease",
        "created_at",
        "published_at",
        "status",
        "conclusion",
        "run_number",
        "head_sha",
        "head_branch",
        "event",
        "display_title",
        "steps",
        "number",
        "started_at",
        "completed_at",
        "message",
        "errors",
        "code",
        "field",
        "state",
        "user",
        "login",
        "comment",
        "environments",
        "environment",
        "reviewers",
        "reviewer",
    ]);
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((field.clone(), inner), 0..8).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

#[test]
fn github_parsers() {
    let answer = (github_json(), any::<bool>()).prop_map(|(v, wrap)| {
        if wrap {
            json!({"workflow_runs": [v.clone()], "jobs": [v.clone()], "message": v})
        } else {
            v
        }
    });
    fuzz("github", answer, |v| {
        for releases in
            hearth::github::parse_releases(&v)
                .into_iter()
                .chain(hearth::github::parse_releases(&Value::Array(vec![
                    v.clone(),
                    v.clone(),
                ])))
        {
            all_inert(&releases)?;
        }
        if let Ok(runs) = hearth::github::parse_runs(&v) {
            all_inert(&runs)?;
        }
        if let Ok(jobs) = hearth::github::parse_jobs(&v) {
            all_inert(&jobs)?;
        }
        let listed = Value::Array(vec![v.clone()]);
        if let Ok(pending) = hearth::github::parse_pending(&listed) {
            all_inert(&pending)?;
        }
        if let Ok(reviews) = hearth::github::parse_approvals(&listed) {
            all_inert(&reviews)?;
            for r in &reviews {
                prop_assert!(inert(&r.words()), "{:?}", r.words());
            }
        }
        let body = v.to_string();
        for status in [401u16, 403, 404, 409, 422, 429, 500] {
            let err = hearth::github::classify(status, &http::HeaderMap::new(), &body);
            prop_assert!(inert(&err.to_string()), "{:?}", err.to_string());
        }
        Ok(())
    });
}

/// A Deployment, its ReplicaSet and pods with hostile strings where the
/// API lets anyone who can write them put text: images, names, reasons,
/// messages.
fn cluster_objects() -> impl Strategy<Value = (Value, Vec<Value>)> {
    let s = hostile;
    let container_status = || {
        (s(), s(), s(), any::<bool>(), 0i32..5, -1i32..3).prop_map(
            |(name, image, reason, ready, restarts, exit)| {
                json!({"name": name, "image": image, "imageID": "", "ready": ready,
                "restartCount": restarts,
                "state": if exit < 0 {
                    json!({"waiting": {"reason": reason, "message": "m"}})
                } else {
                    json!({"terminated": {"exitCode": exit, "reason": reason}})
                },
                "lastState": {"terminated": {"exitCode": exit}}})
            },
        )
    };
    let pod = (
        s(),
        s(),
        s(),
        prop::collection::vec(container_status(), 0..3),
        prop::collection::vec(container_status(), 0..2),
        any::<bool>(),
    )
        .prop_map(|(name, image, msg, cs, ics, hash)| {
            json!({
                "metadata": {"name": name, "namespace": "default",
                    "labels": {"app": "api", "pod-template-hash": if hash { "h1" } else { "h2" }}},
                "spec": {"containers": [{"name": "api", "image": image}],
                    "initContainers": [{"name": "migrate", "image": image}]},
                "status": {"phase": "Running", "reason": msg,
                    "conditions": [{"type": "PodScheduled", "status": "False",
                        "reason": "Unschedulable", "message": msg}],
                    "containerStatuses": cs, "initContainerStatuses": ics}
            })
        });
    let deploy = (s(), s(), 0i32..4, 0i32..4, any::<bool>()).prop_map(
        |(image, cond, replicas, ready, stuck)| {
            json!({
                "metadata": {"name": "api", "namespace": "default", "uid": "d-1", "generation": 2,
                    "annotations": {"deployment.kubernetes.io/revision": "2"}},
                "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "api"}},
                    "template": {"metadata": {"labels": {"app": "api"}},
                        "spec": {"containers": [{"name": "api", "image": image}],
                            "initContainers": [{"name": "migrate", "image": image}]}}},
                "status": {"observedGeneration": 2, "replicas": replicas, "updatedReplicas": ready,
                    "readyReplicas": ready, "availableReplicas": ready,
                    "conditions": [{"type": "Progressing", "status": "False",
                        "reason": if stuck { "ProgressDeadlineExceeded" } else { "NewReplicaSetAvailable" },
                        "message": cond}]}
            })
        },
    );
    (deploy, prop::collection::vec(pod, 0..4))
}

#[test]
fn kubernetes_derivation() {
    let service = Service::example("api");
    fuzz("kubernetes", cluster_objects(), |(deploy, pods)| {
        let deploy: k8s_openapi::api::apps::v1::Deployment =
            serde_json::from_value(deploy).expect("a Deployment");
        let pods: Vec<k8s_openapi::api::core::v1::Pod> = pods
            .into_iter()
            .map(|p| serde_json::from_value(p).expect("a Pod"))
            .collect();
        let rs: k8s_openapi::api::apps::v1::ReplicaSet = serde_json::from_value(json!({
            "metadata": {"name": "api-h1", "namespace": "default",
                "labels": {"pod-template-hash": "h1"},
                "annotations": {"deployment.kubernetes.io/revision": "2"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                    "name": "api", "uid": "d-1", "controller": true}]}
        }))
        .unwrap();
        // As the watches keep them: what hearth reads of each object.
        use hearth::cluster::slim;
        let pods: Vec<slim::Pod> = pods.into_iter().map(slim::Pod::from).collect();
        let rs = slim::ReplicaSet::from(rs);
        let w = hearth::cluster::derive(&service, &deploy.into(), [&rs], pods.iter());
        all_inert(&w)?;
        for p in &pods {
            prop_assert!(inert(&hearth::cluster::pod_status(p)));
        }
        Ok(())
    });
}

/// A Helm release Secret's payload: a release with hostile strings, as
/// plain JSON, gzip (whole or cut short) or bytes that are neither.
fn helm_payloads() -> impl Strategy<Value = Vec<u8>> {
    use std::io::Write;
    let release = (hostile(), hostile(), hostile(), hostile(), any::<u64>()).prop_map(
        |(status, name, app, what, version)| {
            json!({"name": name, "version": version,
                "info": {"status": status, "description": what, "last_deployed": app},
                "chart": {"metadata": {"name": name, "version": app, "appVersion": app}}})
            .to_string()
            .into_bytes()
        },
    );
    let encoded = (release, 0u8..4, any::<usize>()).prop_map(|(json, how, cut)| match how {
        0 => json,
        _ => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&json).unwrap();
            let mut bytes = gz.finish().unwrap();
            if how == 3 {
                bytes.truncate(cut % (bytes.len() + 1));
            }
            bytes
        }
    });
    let raw = prop::collection::vec(any::<u8>(), 0..256);
    (prop_oneof![encoded, raw], any::<bool>()).prop_map(|(bytes, as_base64)| {
        use base64::Engine;
        if as_base64 {
            base64::engine::general_purpose::STANDARD
                .encode(bytes)
                .into_bytes()
        } else {
            bytes
        }
    })
}

#[test]
fn helm_releases() {
    fuzz("helm", helm_payloads(), |payload| {
        if let Ok(rev) = hearth::cluster::helm::decode_release(&payload) {
            all_inert(&rev)?;
        }
        Ok(())
    });
}

/// Inputs that once broke something, kept as plain regressions.
#[test]
fn regressions() {
    // The acceptance registry: an image holding ESC [ 2 J.
    let err = registry::load_str(
        "api:\n  directory: .\n  k8s_name: api\n  image: \"ghcr.io/acme/api\\e[2J\"\n",
        std::path::Path::new("img.yaml"),
        std::path::Path::new("/tmp"),
    )
    .unwrap_err();
    assert_eq!(err.problems[0].pos.map(|p| p.line), Some(4), "{err}");
    assert!(err.to_string().lines().all(inert), "{err:?}");
}
