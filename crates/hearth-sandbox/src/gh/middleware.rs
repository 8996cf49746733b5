//! The middleware every sandbox GitHub request goes through: token auth,
//! faults, the rate-limit window and its headers, ETags and 304s, and the
//! request journal.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::handlers::{reply, Api};
use super::*;

// ----- middleware: auth, faults, rate limit, ETag, journal -----

/// The token a request carries (`Authorization: Bearer X` or `token X`).
pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token"))
        .then(|| token.trim())
}

pub(super) fn etag_of(body: &[u8]) -> String {
    format!("\"{}\"", hex::encode(Sha256::digest(body)))
}

/// Whether `If-None-Match` names `etag` (weak or strong, or `*`).
pub(super) fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    let bare = |s: &str| s.trim().trim_start_matches("W/").to_string();
    if_none_match
        .split(',')
        .any(|t| t.trim() == "*" || bare(t) == bare(etag))
}

pub(super) fn set_rate_headers(headers: &mut HeaderMap, limit: u64, used: u64, reset: i64) {
    let remaining = limit.saturating_sub(used);
    for (k, v) in [
        ("x-ratelimit-limit", limit.to_string()),
        ("x-ratelimit-remaining", remaining.to_string()),
        ("x-ratelimit-used", used.min(limit).to_string()),
        ("x-ratelimit-reset", reset.to_string()),
        ("x-ratelimit-resource", "core".to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&v) {
            headers.insert(k, v);
        }
    }
}

pub(super) async fn github_layer(State(api): Api, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| req.uri().path().to_string());
    let bare_path = req.uri().path().to_string();
    let if_none_match = req
        .headers()
        .get("if-none-match")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let delay = api.faults.delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let given = bearer(req.headers());
    let readonly = given.is_some_and(|t| t == api.readonly_token);
    let authed = given.map(|t| t == api.token || readonly);
    let mut conditional_hit = false;
    let writes = !matches!(method, Method::GET | Method::HEAD);
    let mut resp = match authed {
        // A fine-grained token with read-only permissions: GitHub's answer
        // to a write it does not allow.
        // Such a token has no Secrets permission either.
        Some(true) if readonly && (writes || bare_path.contains("/actions/secrets")) => reply(
            StatusCode::FORBIDDEN,
            json!({"message": "Resource not accessible by personal access token",
                "documentation_url": "https://docs.github.com/rest", "status": "403"}),
        ),
        None => reply(
            StatusCode::UNAUTHORIZED,
            json!({"message": "Requires authentication", "documentation_url": DOCS, "status": "401"}),
        ),
        Some(false) => reply(
            StatusCode::UNAUTHORIZED,
            json!({"message": "Bad credentials", "documentation_url": DOCS, "status": "401"}),
        ),
        Some(true) => {
            serve_authed(
                &api,
                req,
                next,
                &method,
                &bare_path,
                if_none_match,
                &mut conditional_hit,
            )
            .await
        }
    };
    if authed != Some(true) {
        // Unauthenticated requests have GitHub's small anonymous budget.
        let reset = Utc::now().timestamp() + 3600;
        set_rate_headers(resp.headers_mut(), 60, 1, reset);
    }
    resp.headers_mut().insert(
        "x-github-api-version-selected",
        HeaderValue::from_static("2022-11-28"),
    );
    api.journal.record(
        "github",
        method.as_str(),
        &path,
        resp.status().as_u16(),
        conditional_hit,
    );
    resp
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn serve_authed(
    api: &Arc<GithubApi>,
    req: Request,
    next: Next,
    method: &Method,
    bare_path: &str,
    if_none_match: Option<String>,
    conditional_hit: &mut bool,
) -> Response {
    let free = bare_path == "/rate_limit";
    if let Some(left) = api.faults.rate_limited() {
        let (used, _) = api.rate_snapshot(false);
        let reset = Utc::now().timestamp() + left.as_secs().max(1) as i64;
        let mut resp = reply(
            StatusCode::FORBIDDEN,
            json!({
                "message": format!("API rate limit exceeded for user ID {USER_ID}. If you reach out to GitHub Support for help, please include the request ID."),
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
                "status": "403",
            }),
        );
        set_rate_headers(resp.headers_mut(), RATE_LIMIT, RATE_LIMIT.max(used), reset);
        return resp;
    }
    let (used_now, _) = api.rate_snapshot(false);
    if used_now >= RATE_LIMIT && !free {
        let (used, reset) = api.rate_snapshot(false);
        let mut resp = reply(
            StatusCode::FORBIDDEN,
            json!({"message": format!("API rate limit exceeded for user ID {USER_ID}."), "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api", "status": "403"}),
        );
        set_rate_headers(resp.headers_mut(), RATE_LIMIT, used, reset);
        return resp;
    }
    if api.faults.github_error() {
        let (used, reset) = api.rate_snapshot(!free);
        let mut resp = reply(
            StatusCode::BAD_GATEWAY,
            json!({"message": "Server Error", "documentation_url": DOCS, "status": "502"}),
        );
        resp.headers_mut()
            .insert("retry-after", HeaderValue::from_static("5"));
        set_rate_headers(resp.headers_mut(), RATE_LIMIT, used, reset);
        return resp;
    }
    let resp = next.run(req).await;
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let malformed = api.faults.malformed(bare_path);
    if *method == Method::GET && parts.status == StatusCode::OK && !malformed {
        let etag = etag_of(&bytes);
        if if_none_match.is_some_and(|inm| etag_matches(&inm, &etag)) {
            // A 304 does not count against the rate limit, as on GitHub.
            *conditional_hit = true;
            let (used, reset) = api.rate_snapshot(false);
            let mut resp = Response::new(Body::empty());
            *resp.status_mut() = StatusCode::NOT_MODIFIED;
            if let Ok(v) = HeaderValue::from_str(&etag) {
                resp.headers_mut().insert("etag", v);
            }
            set_rate_headers(resp.headers_mut(), RATE_LIMIT, used, reset);
            return resp;
        }
        if let Ok(v) = HeaderValue::from_str(&etag) {
            parts.headers.insert("etag", v);
        }
        parts.headers.insert(
            "cache-control",
            HeaderValue::from_static("private, max-age=60, s-maxage=60"),
        );
    }
    let (used, reset) = api.rate_snapshot(!free);
    set_rate_headers(&mut parts.headers, RATE_LIMIT, used, reset);
    let body = if malformed {
        parts.headers.remove("content-length");
        Body::from("{\"message\": \"this is not valid JSON")
    } else {
        Body::from(bytes)
    };
    Response::from_parts(parts, body)
}
