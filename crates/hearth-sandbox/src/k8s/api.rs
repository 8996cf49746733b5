//! The HTTP surface of the sandbox Kubernetes API (axum handlers, one task
//! per request): discovery, list/get/watch with selectors and Table output,
//! PUT/PATCH with optimistic concurrency, DELETE, and pod logs. Every request
//! is journalled (api "kube") and the active faults (delay, malformed
//! bodies, dropped watches) are honoured here.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use chrono::Utc;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::patch::{self, PatchKind};
use super::selector::{FieldSelector, LabelSelector};
use super::store::{
    meta_mut, ChangeType, Kind, WriteError, FLUX_KUSTOMIZE_GROUP, FLUX_SOURCE_GROUP, RBAC_GROUP,
};
use super::table::{self, IncludeObject};
use super::{auth, logs, normalize, Cluster};

/// The HTTP routes of the Kubernetes API. Serve on its own 127.0.0.1 port.
pub fn router(cluster: Arc<Cluster>) -> Router {
    Router::new().fallback(handle).with_state(cluster)
}

/// Largest request body accepted (PUT/PATCH of one object).
const MAX_BODY: usize = 8 * 1024 * 1024;

async fn handle(State(c): State<Arc<Cluster>>, req: Request) -> Response {
    let method = req.method().clone();
    let uri = req.uri().clone();
    let path = uri.path().to_string();
    let path_and_query = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| path.clone());
    let query: HashMap<String, String> = uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let headers = req.headers().clone();
    let body = axum::body::to_bytes(req.into_body(), MAX_BODY)
        .await
        .unwrap_or_default();
    if c.is_down() {
        return (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "the cluster is down (hearth sandbox)",
        )
            .into_response();
    }
    let delay = c.faults.delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let token = bearer(&headers);
    let who = auth::authenticate(&c.lock().store, token.as_deref());
    let mut resp = match who {
        None => status_error(401, "Unauthorized", "Unauthorized", None),
        Some(who) => {
            let req = Req {
                method: &method,
                query: &query,
                headers: &headers,
                body: &body,
                who: &who,
            };
            dispatch(&c, &path, &req).await
        }
    };
    if c.faults.malformed(&path) {
        let status = resp.status();
        resp = Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                "{\"kind\": \"Status\", \"apiVersion\": [truncated",
            ))
            .expect("static response");
    }
    c.journal.record(
        "kube",
        method.as_str(),
        &path_and_query,
        resp.status().as_u16(),
        false,
    );
    resp
}

/// The parts of a request the handlers need.
struct Req<'a> {
    method: &'a Method,
    query: &'a HashMap<String, String>,
    headers: &'a HeaderMap,
    body: &'a Bytes,
    /// Who is asking (authenticated).
    who: &'a auth::Identity,
}

/// The bearer token of a request.
fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

/// The RBAC verb of a resource request.
fn verb(method: &Method, t: &Target<'_>, watch: bool) -> &'static str {
    match (method.as_str(), t.name) {
        ("GET" | "HEAD", None) if watch => "watch",
        ("GET" | "HEAD", None) => "list",
        ("GET" | "HEAD", Some(_)) => "get",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", None) => "deletecollection",
        ("DELETE", Some(_)) => "delete",
        _ => "unknown",
    }
}

impl Req<'_> {
    fn q(&self, key: &str) -> Option<&str> {
        self.query
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn flag(&self, key: &str) -> bool {
        matches!(self.q(key), Some("1" | "true" | "True"))
    }

    fn wants_table(&self) -> bool {
        self.headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.contains("as=Table"))
    }
}

fn json_response(status: StatusCode, v: &Value) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::to_vec(v).unwrap_or_default()))
        .expect("valid response")
}

/// A `Status` failure, as the apiserver answers errors.
fn status_error(code: u16, reason: &str, message: &str, details: Option<Value>) -> Response {
    let mut v = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    if let Some(d) = details {
        v["details"] = d;
    }
    json_response(
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &v,
    )
}

fn not_found(kind: Kind, name: &str) -> Response {
    status_error(
        404,
        "NotFound",
        &format!("{} \"{name}\" not found", kind.qualified()),
        Some(json!({"name": name, "group": kind.group(), "kind": kind.plural()})),
    )
}

fn no_route() -> Response {
    status_error(
        404,
        "NotFound",
        "the server could not find the requested resource",
        Some(
            json!({"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]}),
        ),
    )
}

fn bad_request(message: &str) -> Response {
    status_error(400, "BadRequest", message, None)
}

fn write_error(kind: Kind, name: &str, e: WriteError) -> Response {
    match e {
        WriteError::NotFound => not_found(kind, name),
        WriteError::AlreadyExists => status_error(
            409,
            "AlreadyExists",
            &format!("{} \"{name}\" already exists", kind.qualified()),
            Some(json!({"name": name, "group": kind.group(), "kind": kind.plural()})),
        ),
        WriteError::Conflict(msg) => status_error(
            409,
            "Conflict",
            &msg,
            Some(json!({"name": name, "group": kind.group(), "kind": kind.plural()})),
        ),
    }
}

async fn dispatch(c: &Arc<Cluster>, path: &str, req: &Req<'_>) -> Response {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let get = req.method == Method::GET;
    match segs.as_slice() {
        ["version"] if get => json_response(StatusCode::OK, &version()),
        ["healthz" | "livez" | "readyz"] if get => Response::new(Body::from("ok")),
        ["api"] if get => json_response(
            StatusCode::OK,
            &json!({
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]
            }),
        ),
        ["apis"] if get => json_response(
            StatusCode::OK,
            &json!({"kind": "APIGroupList", "apiVersion": "v1",
                "groups": GROUPS.map(api_group)}),
        ),
        ["apis", g] if get && GROUPS.contains(g) => {
            let mut v = api_group(g);
            v["kind"] = json!("APIGroup");
            v["apiVersion"] = json!("v1");
            json_response(StatusCode::OK, &v)
        }
        ["api", "v1"] if get => json_response(StatusCode::OK, &resource_list("")),
        ["apis", g, "v1"] if get && GROUPS.contains(g) => {
            json_response(StatusCode::OK, &resource_list(g))
        }
        ["openapi", "v3"] if get => json_response(StatusCode::OK, &super::openapi::index()),
        ["openapi", "v3", gv @ ..] if get => match super::openapi::for_path(&gv.join("/")) {
            Some(doc) => json_response(StatusCode::OK, &doc),
            None => no_route(),
        },
        ["api", "v1", rest @ ..] => resource(c, "", rest, req).await,
        ["apis", g, "v1", rest @ ..] if GROUPS.contains(g) => resource(c, g, rest, req).await,
        _ => no_route(),
    }
}

fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0-hearth-sandbox",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// The named API groups served (all at `v1`).
const GROUPS: [&str; 4] = ["apps", RBAC_GROUP, FLUX_SOURCE_GROUP, FLUX_KUSTOMIZE_GROUP];

fn api_group(name: &str) -> Value {
    let gv = format!("{name}/v1");
    json!({
        "name": name,
        "versions": [{"groupVersion": gv, "version": "v1"}],
        "preferredVersion": {"groupVersion": gv, "version": "v1"}
    })
}

/// An APIResourceList for a group ("" = core/v1).
fn resource_list(group: &str) -> Value {
    let mut resources = Vec::new();
    for kind in Kind::ALL.into_iter().filter(|k| k.group() == group) {
        let writable = kind != Kind::Event;
        let verbs: Vec<&str> = if kind.creatable() {
            vec![
                "create", "delete", "get", "list", "patch", "update", "watch",
            ]
        } else if writable {
            vec!["delete", "get", "list", "patch", "update", "watch"]
        } else {
            vec!["get", "list", "watch"]
        };
        let has_status = matches!(
            kind,
            Kind::Namespace
                | Kind::Pod
                | Kind::Deployment
                | Kind::ReplicaSet
                | Kind::GitRepository
                | Kind::Kustomization
        );
        let mut r = json!({
            "name": kind.plural(),
            "singularName": kind.singular(),
            "namespaced": kind.namespaced(),
            "kind": kind.kind(),
            "verbs": verbs,
            "shortNames": kind.short_names(),
        });
        if matches!(kind, Kind::Pod | Kind::Deployment | Kind::ReplicaSet) {
            r["categories"] = json!(["all"]);
        }
        if matches!(kind, Kind::GitRepository | Kind::Kustomization) {
            r["categories"] = json!(["fluxcd"]);
        }
        resources.push(r);
        if has_status {
            resources.push(json!({
                "name": format!("{}/status", kind.plural()),
                "singularName": "",
                "namespaced": true,
                "kind": kind.kind(),
                "verbs": ["get", "patch", "update"],
            }));
        }
        if kind == Kind::Deployment {
            resources.push(json!({
                "name": "deployments/scale", "singularName": "", "namespaced": true,
                "group": "autoscaling", "version": "v1", "kind": "Scale",
                "verbs": ["get", "patch", "update"]
            }));
        }
        if kind == Kind::Pod {
            resources.push(json!({
                "name": "pods/log", "singularName": "", "namespaced": true,
                "kind": "Pod", "verbs": ["get"]
            }));
        }
    }
    let gv = if group.is_empty() {
        "v1".to_string()
    } else {
        format!("{group}/v1")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
}

/// Where a resource request points.
struct Target<'a> {
    kind: Kind,
    ns: Option<&'a str>,
    name: Option<&'a str>,
    sub: Option<&'a str>,
}

fn parse_target<'a>(group: &str, rest: &[&'a str]) -> Option<Target<'a>> {
    let (ns, plural, name, sub) = match *rest {
        [plural] => (None, plural, None, None),
        ["namespaces", name] => (None, "namespaces", Some(name), None),
        ["namespaces", ns, plural] => (Some(ns), plural, None, None),
        ["namespaces", ns, plural, name] => (Some(ns), plural, Some(name), None),
        ["namespaces", ns, plural, name, sub] => (Some(ns), plural, Some(name), Some(sub)),
        _ => return None,
    };
    let kind = Kind::from_plural(plural)?;
    if kind.group() != group || (!kind.namespaced() && ns.is_some()) {
        return None;
    }
    if kind.namespaced() && name.is_some() && ns.is_none() {
        return None;
    }
    Some(Target {
        kind,
        ns,
        name,
        sub,
    })
}

async fn resource(c: &Arc<Cluster>, group: &str, rest: &[&str], req: &Req<'_>) -> Response {
    let Some(t) = parse_target(group, rest) else {
        return no_route();
    };
    let attrs = auth::Attributes {
        verb: verb(req.method, &t, req.flag("watch")),
        kind: t.kind,
        subresource: t.sub,
        namespace: t.ns,
        name: t.name,
    };
    if !auth::allowed(&c.lock().store, req.who, &attrs) {
        let name = t.name.unwrap_or("");
        return status_error(
            403,
            "Forbidden",
            &auth::forbidden_message(req.who, &attrs),
            Some(json!({"name": name, "group": t.kind.group(), "kind": t.kind.plural()})),
        );
    }
    let protobuf_body = req
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("protobuf"));
    if protobuf_body && !req.body.is_empty() {
        return status_error(
            415,
            "UnsupportedMediaType",
            "the sandbox accepts JSON bodies only (application/json)",
            None,
        );
    }
    if req.method == Method::POST {
        if let Some(rejected) = strict_rejects(&t, req) {
            return rejected;
        }
    }
    match (req.method.clone(), t.name, t.sub) {
        (Method::GET, None, None) => {
            if req.flag("watch") {
                watch(c, &t, req)
            } else {
                list(c, &t, req)
            }
        }
        (Method::GET, Some(name), None | Some("status")) => get_one(c, &t, name, req),
        (Method::GET, Some(name), Some("log")) if t.kind == Kind::Pod => {
            pod_log(c, t.ns.unwrap_or("default"), name, req)
        }
        (Method::GET | Method::PUT | Method::PATCH, Some(name), Some("scale"))
            if t.kind == Kind::Deployment =>
        {
            scale(c, &t, name, req)
        }
        (Method::PUT, Some(name), None | Some("status")) => match json_body(req) {
            Ok(body) => write(c, &t, name, req, &body, None),
            Err(r) => *r,
        },
        (Method::PATCH, Some(name), None | Some("status")) => {
            let ct = req
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            match PatchKind::from_content_type(ct) {
                Some(PatchKind::Apply) if t.sub.is_none() => server_side_apply(c, &t, name, req),
                Some(pk) => match json_body(req) {
                    Ok(body) => write(c, &t, name, req, &body, Some(pk)),
                    Err(r) => *r,
                },
                None => status_error(
                    415,
                    "UnsupportedMediaType",
                    &format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {ct:?})"),
                    None,
                ),
            }
        }
        (Method::DELETE, Some(name), None) => delete(c, &t, name),
        (Method::POST, None, None) if t.kind == Kind::Deployment && t.ns.is_some() => {
            create_deployment(c, t.ns.unwrap_or("default"), req)
        }
        (Method::POST, None, None)
            if t.kind.creatable() && t.kind.namespaced() == t.ns.is_some() =>
        {
            create_object(c, &t, req)
        }
        _ => status_error(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
            None,
        ),
    }
}

/// Parsed list/watch filters.
struct Filter {
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    fn parse(req: &Req<'_>) -> Result<Filter, Box<Response>> {
        let labels = LabelSelector::parse(req.q("labelSelector").unwrap_or(""))
            .map_err(|e| Box::new(bad_request(&format!("invalid labelSelector: {e}"))))?;
        let fields = FieldSelector::parse(req.q("fieldSelector").unwrap_or(""))
            .map_err(|e| Box::new(bad_request(&format!("invalid fieldSelector: {e}"))))?;
        Ok(Filter { labels, fields })
    }

    fn matches(&self, obj: &Value) -> bool {
        self.labels.matches(obj) && self.fields.matches(obj)
    }
}

/// A `continue` token: the list's resourceVersion and the last key served.
fn parse_continue(token: &str) -> Option<(String, String, String)> {
    let (rv, key) = token.split_once(':')?;
    let (ns, name) = key.split_once('/')?;
    rv.parse::<u64>().ok()?;
    Some((rv.to_string(), ns.to_string(), name.to_string()))
}

fn list(c: &Arc<Cluster>, t: &Target<'_>, req: &Req<'_>) -> Response {
    let filter = match Filter::parse(req) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let after = match req.q("continue") {
        None => None,
        Some(tok) => match parse_continue(tok) {
            Some(a) => Some(a),
            None => return bad_request(&format!("invalid continue token {tok:?}")),
        },
    };
    let limit = req
        .q("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    let inner = c.lock();
    let mut items: Vec<&Value> = inner
        .store
        .list(t.kind, t.ns)
        .into_iter()
        .filter(|o| filter.matches(o))
        .collect();
    // Pages keep the first page's resourceVersion, so a watch started from
    // the list replays whatever changed while paging.
    let rv = match &after {
        Some((rv, ns, name)) => {
            let key = (ns.as_str(), name.as_str());
            items.retain(|o| (super::store::obj_ns(o), super::store::obj_name(o)) > key);
            rv.clone()
        }
        None => inner.store.resource_version().to_string(),
    };
    let mut meta = json!({"resourceVersion": rv});
    if let Some(limit) = limit.filter(|l| items.len() > *l) {
        let remaining = items.len() - limit;
        items.truncate(limit);
        let last = items[limit - 1];
        meta["continue"] = json!(format!(
            "{rv}:{}/{}",
            super::store::obj_ns(last),
            super::store::obj_name(last)
        ));
        meta["remainingItemCount"] = json!(remaining);
    }
    let body = if req.wants_table() {
        let include = IncludeObject::parse(req.q("includeObject"));
        let mut t = table::table(t.kind, &items, &rv, include, true, Utc::now());
        t["metadata"] = meta;
        t
    } else {
        json!({
            "kind": format!("{}List", t.kind.kind()),
            "apiVersion": t.kind.api_version(),
            "metadata": meta,
            "items": items,
        })
    };
    drop(inner);
    json_response(StatusCode::OK, &body)
}

fn get_one(c: &Arc<Cluster>, t: &Target<'_>, name: &str, req: &Req<'_>) -> Response {
    let inner = c.lock();
    let Some(obj) = inner.store.get(t.kind, t.ns.unwrap_or(""), name) else {
        return not_found(t.kind, name);
    };
    let body = if req.wants_table() {
        let include = IncludeObject::parse(req.q("includeObject"));
        let rv = obj["metadata"]["resourceVersion"].as_str().unwrap_or("");
        table::table(t.kind, &[obj], rv, include, true, Utc::now())
    } else {
        obj.clone()
    };
    drop(inner);
    json_response(StatusCode::OK, &body)
}

/// PUT (`patch` None) or PATCH of one object or its status.
fn write(
    c: &Arc<Cluster>,
    t: &Target<'_>,
    name: &str,
    req: &Req<'_>,
    body: &Value,
    patch_kind: Option<PatchKind>,
) -> Response {
    if t.kind == Kind::Event {
        return status_error(
            405,
            "MethodNotAllowed",
            "the sandbox serves this resource read-only",
            None,
        );
    }
    // Cluster-scoped objects (namespaces, cluster roles) have no namespace.
    let ns = if t.kind.namespaced() {
        t.ns.unwrap_or("default")
    } else {
        ""
    };
    let mut inner = c.lock();
    let Some(current) = inner.store.get(t.kind, ns, name).cloned() else {
        return not_found(t.kind, name);
    };
    let (mut new, expected_rv) = match patch_kind {
        None => {
            if !body.is_object() {
                return bad_request("the body must be a JSON object");
            }
            if body["metadata"]["name"].as_str().is_some_and(|n| n != name) {
                return bad_request(&format!(
                    "the name of the object ({}) does not match the name on the URL ({name})",
                    body["metadata"]["name"].as_str().unwrap_or("")
                ));
            }
            let rv = body["metadata"]["resourceVersion"]
                .as_str()
                .map(str::to_string);
            (body.clone(), rv)
        }
        Some(pk) => match patch::apply(&current, pk, body) {
            Ok(v) => {
                let rv = body
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                (v, rv)
            }
            Err(e) => {
                return status_error(422, "Invalid", &e, None);
            }
        },
    };
    if !new.is_object() {
        return status_error(
            422,
            "Invalid",
            "the patched object is not a JSON object",
            None,
        );
    }
    // Identity is the URL's; status belongs to the status subresource and
    // spec/metadata to the main resource, as in Kubernetes.
    {
        let meta = meta_mut(&mut new);
        meta.insert("name".into(), json!(name));
        if t.kind.namespaced() {
            meta.insert("namespace".into(), json!(ns));
        }
        meta.insert("uid".into(), current["metadata"]["uid"].clone());
        meta.insert(
            "resourceVersion".into(),
            current["metadata"]["resourceVersion"].clone(),
        );
    }
    if t.sub == Some("status") {
        let status = new["status"].clone();
        new = current.clone();
        new["status"] = status;
    } else if !current["status"].is_null() {
        new["status"] = current["status"].clone();
    }
    if req.q("fieldValidation") == Some("Strict") {
        let unknown = unknown_fields(t.kind, &new);
        if !unknown.is_empty() {
            return strict_error(t.kind, &unknown);
        }
    }
    let new = match normalize(t.kind, new) {
        Ok(v) => v,
        Err(e) => {
            return status_error(
                422,
                "Invalid",
                &format!("{} \"{name}\" is invalid: {e}", t.kind.qualified()),
                None,
            )
        }
    };
    match inner.store.update(t.kind, new, expected_rv.as_deref()) {
        Ok(obj) => {
            match t.kind {
                Kind::Deployment => c.touch(&mut inner, ns, name),
                Kind::ReplicaSet | Kind::Pod => touch_owner(c, &mut inner, &obj),
                _ => {}
            }
            drop(inner);
            json_response(StatusCode::OK, &obj)
        }
        Err(e) => write_error(t.kind, name, e),
    }
}

/// A JSON request body, or the 400 to answer with.
fn json_body(req: &Req<'_>) -> Result<Value, Box<Response>> {
    serde_json::from_slice(req.body)
        .map_err(|e| Box::new(bad_request(&format!("invalid JSON body: {e}"))))
}

/// The fields of `obj` that its Kubernetes type does not declare
/// (`spec.foo`, `spec.template.spec.containers[0].imagee`): what
/// `fieldValidation=Strict` rejects. Found by what a round trip through the
/// typed object drops.
pub(crate) fn unknown_fields(kind: Kind, obj: &Value) -> Vec<String> {
    fn walk(given: &Value, known: &Value, path: &str, out: &mut Vec<String>) {
        match (given, known) {
            (Value::Object(g), Value::Object(k)) => {
                for (key, v) in g {
                    if key.starts_with('$') || v.is_null() {
                        continue;
                    }
                    let p = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    match k.get(key) {
                        None => out.push(p),
                        Some(kv) => walk(v, kv, &p, out),
                    }
                }
            }
            (Value::Array(g), Value::Array(k)) if g.len() == k.len() => {
                for (i, (gv, kv)) in g.iter().zip(k).enumerate() {
                    walk(gv, kv, &format!("{path}[{i}]"), out);
                }
            }
            _ => {}
        }
    }
    let mut typed = obj.clone();
    if typed.is_object() {
        typed["apiVersion"] = json!(kind.api_version());
        typed["kind"] = json!(kind.kind());
    }
    let Ok(known) = normalize(kind, typed) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    walk(obj, &known, "", &mut out);
    out
}

/// The apiserver's answer to unknown fields under `fieldValidation=Strict`.
fn strict_error(kind: Kind, fields: &[String]) -> Response {
    let fields: Vec<String> = fields
        .iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect();
    status_error(
        400,
        "BadRequest",
        &format!(
            "{k} in version \"v1\" cannot be handled as a {k}: strict decoding error: {}",
            fields.join(", "),
            k = kind.kind()
        ),
        None,
    )
}

/// The 400 for a create whose body names fields its type does not declare,
/// when the request asks for `fieldValidation=Strict`.
fn strict_rejects(t: &Target<'_>, req: &Req<'_>) -> Option<Response> {
    if req.q("fieldValidation") != Some("Strict") {
        return None;
    }
    let body: Value = serde_json::from_slice(req.body).ok()?;
    let unknown = unknown_fields(t.kind, &body);
    (!unknown.is_empty()).then(|| strict_error(t.kind, &unknown))
}

/// Server-side apply (`PATCH` with `application/apply-patch+yaml`): creates
/// the object when it does not exist, else merges the applied configuration
/// into it (see `PatchKind::Apply`). Needs `fieldManager`, as the apiserver
/// does; `force` is accepted (there are no conflicts to force).
fn server_side_apply(c: &Arc<Cluster>, t: &Target<'_>, name: &str, req: &Req<'_>) -> Response {
    if req.q("fieldManager").is_none() {
        return status_error(
            422,
            "Invalid",
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
            None,
        );
    }
    let body: Value = match serde_yaml::from_slice(req.body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return bad_request("the applied configuration must be an object"),
        Err(e) => return bad_request(&format!("invalid YAML body: {e}")),
    };
    if body["kind"].as_str() != Some(t.kind.kind())
        || body["apiVersion"].as_str() != Some(t.kind.api_version())
    {
        return bad_request(&format!(
            "the applied configuration must set apiVersion {} and kind {} (got {} {})",
            t.kind.api_version(),
            t.kind.kind(),
            body["apiVersion"].as_str().unwrap_or("none"),
            body["kind"].as_str().unwrap_or("none"),
        ));
    }
    if body["metadata"]["name"].as_str() != Some(name) {
        return bad_request(&format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            body["metadata"]["name"].as_str().unwrap_or("")
        ));
    }
    let ns = t.ns.unwrap_or("");
    let exists = c.lock().store.get(t.kind, ns, name).is_some();
    if exists {
        return write(c, t, name, req, &body, Some(PatchKind::Apply));
    }
    if req.q("fieldValidation") == Some("Strict") {
        let unknown = unknown_fields(t.kind, &body);
        if !unknown.is_empty() {
            return strict_error(t.kind, &unknown);
        }
    }
    if !t.kind.creatable() {
        return not_found(t.kind, name);
    }
    let mut inner = c.lock();
    match super::create_in(&mut inner, t.kind, t.ns, body) {
        Ok(obj) => {
            if t.kind == Kind::Deployment {
                c.touch(&mut inner, ns, name);
            }
            json_response(StatusCode::CREATED, &obj)
        }
        Err(super::CreateError::Invalid(msg)) => status_error(422, "Invalid", &msg, None),
        Err(super::CreateError::Write(name, e)) => write_error(t.kind, &name, e),
        Err(super::CreateError::NoNamespace(ns)) => not_found(Kind::Namespace, &ns),
    }
}

/// POST a Deployment (`kubectl create deployment`), with the defaults the
/// apiserver would fill in.
fn create_deployment(c: &Arc<Cluster>, ns: &str, req: &Req<'_>) -> Response {
    let mut obj = match serde_json::from_slice::<Value>(req.body) {
        Ok(v) if v.is_object() => v,
        Ok(_) => return bad_request("the body must be a JSON object"),
        Err(e) => return bad_request(&format!("invalid JSON body: {e}")),
    };
    let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-' || ch == '.');
    if !valid {
        return status_error(
            422,
            "Invalid",
            &format!("Deployment.apps \"{name}\" is invalid: metadata.name: Invalid value: a lowercase RFC 1123 subdomain is required"),
            None,
        );
    }
    meta_mut(&mut obj).insert("namespace".into(), json!(ns));
    for field in ["uid", "resourceVersion", "generation", "creationTimestamp"] {
        meta_mut(&mut obj).remove(field);
    }
    if !obj["spec"].is_object() {
        return status_error(
            422,
            "Invalid",
            &format!("Deployment.apps \"{name}\" is invalid: spec: Required value"),
            None,
        );
    }
    let spec = &mut obj["spec"];
    if spec["replicas"].is_null() {
        spec["replicas"] = json!(1);
    }
    if spec["strategy"].is_null() {
        spec["strategy"] = json!({"type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}});
    }
    if spec["progressDeadlineSeconds"].is_null() {
        spec["progressDeadlineSeconds"] = json!(600);
    }
    if spec["revisionHistoryLimit"].is_null() {
        spec["revisionHistoryLimit"] = json!(10);
    }
    obj["status"] = json!({});
    let obj = match normalize(Kind::Deployment, obj) {
        Ok(v) => v,
        Err(e) => {
            return status_error(
                422,
                "Invalid",
                &format!("Deployment.apps \"{name}\" is invalid: {e}"),
                None,
            )
        }
    };
    let mut inner = c.lock();
    match inner.store.create(Kind::Deployment, obj) {
        Ok(obj) => {
            c.touch(&mut inner, ns, &name);
            json_response(StatusCode::CREATED, &obj)
        }
        Err(e) => write_error(Kind::Deployment, &name, e),
    }
}

/// POST any other creatable kind (`kubectl create -f`, `kubectl create
/// namespace`, a ServiceAccount's token Secret), validated against its type.
fn create_object(c: &Arc<Cluster>, t: &Target<'_>, req: &Req<'_>) -> Response {
    let obj = match serde_json::from_slice::<Value>(req.body) {
        Ok(v) if v.is_object() => v,
        Ok(_) => return bad_request("the body must be a JSON object"),
        Err(e) => return bad_request(&format!("invalid JSON body: {e}")),
    };
    if obj["kind"].as_str().is_some_and(|k| k != t.kind.kind()) {
        return bad_request(&format!(
            "the kind of the object ({}) does not match the URL ({})",
            obj["kind"].as_str().unwrap_or(""),
            t.kind.kind()
        ));
    }
    let mut inner = c.lock();
    match super::create_in(&mut inner, t.kind, t.ns, obj) {
        Ok(obj) => json_response(StatusCode::CREATED, &obj),
        Err(super::CreateError::Invalid(msg)) => status_error(422, "Invalid", &msg, None),
        Err(super::CreateError::Write(name, e)) => write_error(t.kind, &name, e),
        Err(super::CreateError::NoNamespace(ns)) => not_found(Kind::Namespace, &ns),
    }
}

/// The `autoscaling/v1` Scale view of a deployment.
fn scale_of(dep: &Value) -> Value {
    let selector: Vec<String> = dep["spec"]["selector"]["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    let m = &dep["metadata"];
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {"name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
            "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"]},
        "spec": {"replicas": dep["spec"]["replicas"]},
        "status": {"replicas": dep["status"]["replicas"].as_i64().unwrap_or(0),
            "selector": selector.join(",")}
    })
}

/// GET/PUT/PATCH `deployments/{name}/scale` (`kubectl scale`).
fn scale(c: &Arc<Cluster>, t: &Target<'_>, name: &str, req: &Req<'_>) -> Response {
    let ns = t.ns.unwrap_or("default");
    let mut inner = c.lock();
    let Some(dep) = inner.store.get(Kind::Deployment, ns, name).cloned() else {
        return not_found(Kind::Deployment, name);
    };
    let current = scale_of(&dep);
    if req.method == Method::GET {
        return json_response(StatusCode::OK, &current);
    }
    let body: Value = match serde_json::from_slice(req.body) {
        Ok(v) => v,
        Err(e) => return bad_request(&format!("invalid JSON body: {e}")),
    };
    let wanted = if req.method == Method::PUT {
        body
    } else {
        let ct = req
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let Some(pk) = PatchKind::from_content_type(ct) else {
            return status_error(
                415,
                "UnsupportedMediaType",
                &format!("unsupported patch type {ct:?}"),
                None,
            );
        };
        match patch::apply(&current, pk, &body) {
            Ok(v) => v,
            Err(e) => return status_error(422, "Invalid", &e, None),
        }
    };
    let Some(replicas) = wanted["spec"]["replicas"].as_i64().filter(|r| *r >= 0) else {
        return status_error(
            422,
            "Invalid",
            "spec.replicas must be a non-negative integer",
            None,
        );
    };
    let expected = wanted["metadata"]["resourceVersion"]
        .as_str()
        .map(str::to_string);
    let mut new = dep.clone();
    new["spec"]["replicas"] = json!(replicas);
    match inner
        .store
        .update(Kind::Deployment, new, expected.as_deref())
    {
        Ok(obj) => {
            c.touch(&mut inner, ns, name);
            json_response(StatusCode::OK, &scale_of(&obj))
        }
        Err(e) => write_error(Kind::Deployment, name, e),
    }
}

/// Wake the controller for the deployment that owns a ReplicaSet or Pod.
fn touch_owner(c: &Cluster, inner: &mut super::Inner, obj: &Value) {
    let ns = obj["metadata"]["namespace"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let mut cur = obj.clone();
    for _ in 0..2 {
        let Some(owner) = cur["metadata"]["ownerReferences"]
            .as_array()
            .and_then(|o| o.first())
            .cloned()
        else {
            return;
        };
        let owner_name = owner["name"].as_str().unwrap_or("").to_string();
        match owner["kind"].as_str() {
            Some("Deployment") => {
                c.touch(inner, &ns, &owner_name);
                return;
            }
            Some("ReplicaSet") => match inner.store.get(Kind::ReplicaSet, &ns, &owner_name) {
                Some(rs) => cur = rs.clone(),
                None => return,
            },
            _ => return,
        }
    }
}

fn delete(c: &Arc<Cluster>, t: &Target<'_>, name: &str) -> Response {
    let ns = t.ns.unwrap_or("");
    let mut inner = c.lock();
    let Some(obj) = inner.store.get(t.kind, ns, name).cloned() else {
        return not_found(t.kind, name);
    };
    match t.kind {
        Kind::Pod => {
            // Pods terminate gracefully; the controller removes them.
            let at = Utc::now() + chrono::Duration::milliseconds((c.scaled(1.0) * 1000.0) as i64);
            let key = (ns.to_string(), name.to_string());
            let result = match inner.pods.get_mut(&key) {
                Some(clock) => {
                    clock.deleting_at = Some(at);
                    let mut pod = obj.clone();
                    meta_mut(&mut pod)
                        .insert("deletionTimestamp".into(), json!(super::rfc3339(at)));
                    inner.store.update(Kind::Pod, pod, None)
                }
                None => inner.store.delete(Kind::Pod, ns, name),
            };
            touch_owner(c, &mut inner, &obj);
            match result {
                Ok(v) => json_response(StatusCode::OK, &v),
                Err(e) => write_error(t.kind, name, e),
            }
        }
        Kind::Deployment => {
            // Cascade to ReplicaSets and Pods, like background deletion.
            let dep_uid = obj["metadata"]["uid"].clone();
            let rss: Vec<Value> = inner
                .store
                .list_prefix(Kind::ReplicaSet, ns, &format!("{name}-"))
                .into_iter()
                .filter(|rs| rs["metadata"]["ownerReferences"][0]["uid"] == dep_uid)
                .cloned()
                .collect();
            for rs in rss {
                let rs_name = rs["metadata"]["name"].as_str().unwrap_or("").to_string();
                let pods: Vec<String> = inner
                    .store
                    .list_prefix(Kind::Pod, ns, &format!("{rs_name}-"))
                    .into_iter()
                    .filter(|p| p["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"])
                    .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_string))
                    .collect();
                for p in pods {
                    let _ = inner.store.delete(Kind::Pod, ns, &p);
                    inner.pods.remove(&(ns.to_string(), p));
                }
                let _ = inner.store.delete(Kind::ReplicaSet, ns, &rs_name);
            }
            match inner.store.delete(Kind::Deployment, ns, name) {
                Ok(v) => json_response(StatusCode::OK, &v),
                Err(e) => write_error(t.kind, name, e),
            }
        }
        _ => match inner.store.delete(t.kind, ns, name) {
            Ok(v) => json_response(StatusCode::OK, &v),
            Err(e) => write_error(t.kind, name, e),
        },
    }
}

type Chunk = Result<Bytes, Infallible>;

fn stream_response(rx: mpsc::Receiver<Chunk>, content_type: &str) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(Body::from_stream(ReceiverStream::new(rx)))
        .expect("valid response")
}

fn line(v: &Value) -> Bytes {
    let mut b = serde_json::to_vec(v).unwrap_or_default();
    b.push(b'\n');
    Bytes::from(b)
}

/// How often a watch that allows bookmarks gets one.
const BOOKMARK_EVERY: Duration = Duration::from_secs(10);
/// Watches end after this long unless the client asked otherwise.
const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);

fn watch(c: &Arc<Cluster>, t: &Target<'_>, req: &Req<'_>) -> Response {
    let filter = match Filter::parse(req) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let kind = t.kind;
    let ns = t.ns.map(str::to_string);
    let as_table = req.wants_table();
    let include = IncludeObject::parse(req.q("includeObject"));
    let timeout = req
        .q("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_WATCH_TIMEOUT);
    let bookmarks = req.flag("allowWatchBookmarks");
    let send_initial = req.flag("sendInitialEvents");
    let rv_param = match req.q("resourceVersion") {
        None | Some("0") => None,
        Some(s) => match s.parse::<u64>() {
            Ok(v) => Some(v),
            Err(_) => return bad_request(&format!("invalid resourceVersion {s:?}")),
        },
    };
    if let Some(rv) = rv_param {
        // A version this server never issued: a client that watched another
        // server on this address (a restarted sandbox). The API server's
        // watch cache answers so after waiting for it to catch up; the
        // sandbox answers at once. The client must list again.
        let cur = c.lock().store.resource_version();
        if rv > cur {
            return status_error(
                504,
                "Timeout",
                &format!("Too large resource version: {rv}, current: {cur}"),
                Some(json!({
                    "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                    "retryAfterSeconds": 1
                })),
            );
        }
    }
    let in_scope =
        move |k: Kind, obj_ns: &str| k == kind && ns.as_deref().is_none_or(|n| n == obj_ns);
    // Snapshot and subscribe under one lock so no change falls in between.
    let (initial, mut changes, start_rv, gone) = {
        let inner = c.lock();
        let rx = inner.store.subscribe();
        let cur = inner.store.resource_version();
        match rv_param {
            Some(rv) if !send_initial => match inner.store.changes_since(rv) {
                Some(chs) => {
                    let evs: Vec<(ChangeType, Value)> = chs
                        .iter()
                        .filter(|ch| in_scope(ch.kind, &ch.namespace) && filter.matches(&ch.object))
                        .map(|ch| (ch.ctype, ch.object.clone()))
                        .collect();
                    (evs, rx, cur, None)
                }
                None => (Vec::new(), rx, cur, Some(rv)),
            },
            _ => {
                let evs = inner
                    .store
                    .list(kind, t.ns)
                    .into_iter()
                    .filter(|o| filter.matches(o))
                    .map(|o| (ChangeType::Added, o.clone()))
                    .collect();
                (evs, rx, cur, None)
            }
        }
    };
    let (tx, rx) = mpsc::channel::<Chunk>(512);
    let mut drops = c.faults.watch_drops();
    drops.borrow_and_update();
    tokio::spawn(async move {
        if let Some(rv) = gone {
            let err = json!({"type": "ERROR", "object": {
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": format!("too old resource version: {rv} ({start_rv})"),
                "reason": "Expired", "code": 410
            }});
            let _ = tx.send(Ok(line(&err))).await;
            return;
        }
        let mut first = true;
        let mut encode = |ctype: &str, obj: &Value| {
            let object = if as_table {
                let rv = obj["metadata"]["resourceVersion"].as_str().unwrap_or("");
                let t = table::table(kind, &[obj], rv, include, first, Utc::now());
                first = false;
                t
            } else {
                obj.clone()
            };
            line(&json!({"type": ctype, "object": object}))
        };
        for (ctype, obj) in &initial {
            if tx.send(Ok(encode(ctype.as_str(), obj))).await.is_err() {
                return;
            }
        }
        let bookmark = |rv: u64, initial_end: bool| {
            let mut meta = json!({"resourceVersion": rv.to_string()});
            if initial_end {
                meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
            }
            line(&json!({"type": "BOOKMARK", "object": {
                "kind": kind.kind(), "apiVersion": kind.api_version(), "metadata": meta
            }}))
        };
        let mut last_rv = start_rv;
        if send_initial && bookmarks && tx.send(Ok(bookmark(last_rv, true))).await.is_err() {
            return;
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(BOOKMARK_EVERY);
        ticker.tick().await;
        loop {
            tokio::select! {
                ch = changes.recv() => match ch {
                    Ok(ch) => {
                        last_rv = ch.rv;
                        if in_scope(ch.kind, &ch.namespace) && filter.matches(&ch.object) {
                            let bytes = encode(ch.ctype.as_str(), &ch.object);
                            if tx.send(Ok(bytes)).await.is_err() {
                                return;
                            }
                        }
                    }
                    // A watcher too slow to keep up is closed; clients re-list.
                    Err(broadcast::error::RecvError::Lagged(_)) | Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = drops.changed() => return,
                _ = &mut deadline => return,
                _ = ticker.tick(), if bookmarks => {
                    if tx.send(Ok(bookmark(last_rv, false))).await.is_err() {
                        return;
                    }
                }
                _ = tx.closed() => return,
            }
        }
    });
    stream_response(rx, "application/json")
}

fn pod_log(c: &Arc<Cluster>, ns: &str, name: &str, req: &Req<'_>) -> Response {
    let (clock, container) = {
        let inner = c.lock();
        let Some(pod) = inner.store.get(Kind::Pod, ns, name) else {
            return not_found(Kind::Pod, name);
        };
        let names = |list: &str| -> Vec<String> {
            pod["spec"][list]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["name"].as_str().map(str::to_string))
                .collect()
        };
        let apps = names("containers");
        let inits = names("initContainers");
        let container = match req.q("container") {
            Some(cn) => cn.to_string(),
            None if apps.len() == 1 => apps[0].clone(),
            None => {
                return bad_request(&format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    apps.join(" ")
                ))
            }
        };
        if !apps.contains(&container) && !inits.contains(&container) {
            return bad_request(&format!(
                "container {container} is not valid for pod {name}"
            ));
        }
        if apps.contains(&container) {
            let waiting = pod["status"]["containerStatuses"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|s| s["name"] == container.as_str())
                .and_then(|s| s["state"]["waiting"]["reason"].as_str().map(str::to_string));
            let pending = pod["status"]["containerStatuses"].is_null();
            if let Some(reason) = waiting.or(pending.then(|| "ContainerCreating".to_string())) {
                return bad_request(&format!(
                    "container \"{container}\" in pod \"{name}\" is waiting to start: {reason}"
                ));
            }
        }
        let Some(clock) = inner.pods.get(&(ns.to_string(), name.to_string())).cloned() else {
            return bad_request(&format!("pod {name} has no logs"));
        };
        (clock, container)
    };
    let speed = c.speed;
    let now = Utc::now();
    let since = req
        .q("sinceSeconds")
        .and_then(|s| s.parse::<i64>().ok())
        .map(|s| now - chrono::Duration::seconds(s))
        .or_else(|| {
            req.q("sinceTime")
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
        });
    let timestamps = req.flag("timestamps");
    let tail = req.q("tailLines").and_then(|s| s.parse::<usize>().ok());
    let mut lines: Vec<logs::Line> = logs::lines(name, &clock, &container, speed, 0, now)
        .into_iter()
        .filter(|l| since.is_none_or(|s| l.time >= s))
        .collect();
    if let Some(n) = tail {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    let render = move |l: &logs::Line| {
        if timestamps {
            format!(
                "{} {}\n",
                l.time.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                l.text
            )
        } else {
            format!("{}\n", l.text)
        }
    };
    let next = lines.last().map(|l| l.index + 1);
    let head: String = lines.iter().map(&render).collect();
    if !req.flag("follow") {
        let mut head = head;
        if let Some(limit) = req.q("limitBytes").and_then(|s| s.parse::<usize>().ok()) {
            let mut cut = limit.min(head.len());
            while !head.is_char_boundary(cut) {
                cut -= 1;
            }
            head.truncate(cut);
        }
        return Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Body::from(head))
            .expect("valid response");
    }
    let (tx, rx) = mpsc::channel::<Chunk>(64);
    let c = c.clone();
    let ns = ns.to_string();
    let name = name.to_string();
    tokio::spawn(async move {
        if !head.is_empty() && tx.send(Ok(Bytes::from(head))).await.is_err() {
            return;
        }
        let mut from = next.unwrap_or_else(|| {
            logs::lines(&name, &clock, &container, speed, 0, now)
                .last()
                .map_or(0, |l| l.index + 1)
        });
        let pace = Duration::from_secs_f64(logs::interval(speed));
        // The Deployment's name: pods are `<deployment>-<hash>-<suffix>`.
        let app = name.rsplitn(3, '-').nth(2).unwrap_or(&name).to_string();
        let mut flooded = 0u64;
        let mut flood_from = tokio::time::Instant::now();
        loop {
            let flood = c.faults.log_flood(&app).filter(|_| container == clock.app);
            let wait = if flood.is_some() {
                Duration::from_millis(20)
            } else {
                pace
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = tx.closed() => return,
            }
            if let Some(rate) = flood {
                // As many lines as the rate asks for since the flood began,
                // each stamped a nanosecond apart so that none is equal.
                let due = (flood_from.elapsed().as_secs_f64() * f64::from(rate)) as u64;
                let now = Utc::now();
                let mut chunk = String::new();
                for k in flooded..due {
                    let t = now + chrono::Duration::nanoseconds((k - flooded) as i64);
                    let text = format!("INFO  {app} flood line {k} GET /api/items 200 3ms");
                    if timestamps {
                        chunk.push_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true));
                        chunk.push(' ');
                    }
                    chunk.push_str(&text);
                    chunk.push('\n');
                }
                flooded = due;
                if !chunk.is_empty() && tx.send(Ok(Bytes::from(chunk))).await.is_err() {
                    return;
                }
            } else {
                flooded = 0;
                flood_from = tokio::time::Instant::now();
            }
            // The stream ends with the pod, as a container's log does.
            let alive = c.lock().pods.contains_key(&(ns.clone(), name.clone()));
            let new = logs::lines(&name, &clock, &container, speed, from, Utc::now());
            if let Some(l) = new.last() {
                from = l.index + 1;
            }
            let chunk: String = new.iter().map(&render).collect();
            if !chunk.is_empty() && tx.send(Ok(Bytes::from(chunk))).await.is_err() {
                return;
            }
            if !alive {
                return;
            }
        }
    });
    stream_response(rx, "text/plain")
}
