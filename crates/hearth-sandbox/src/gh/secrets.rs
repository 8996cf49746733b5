//! Repository Actions secrets, as GitHub serves them: the repository's
//! public key (a libsodium sealed-box key), a list of secret names, and PUT /
//! GET / DELETE of one secret. Values arrive sealed to the public key; the
//! sandbox holds the private key, so it refuses a value it cannot open (a
//! client bug GitHub would only show when the workflow runs) and tests can
//! read back what a client stored.

use std::collections::BTreeMap;
use std::sync::Mutex;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use crypto_box::SecretKey;
use serde_json::{json, Value};

use super::handlers::{not_found, reply, repo_key, Api};
use super::json::ts;

/// One stored secret: its sealed value and its times.
#[derive(Clone, Debug)]
struct SecretRec {
    sealed: Vec<u8>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// Every repository's secrets and the key they are sealed to.
pub struct SecretStore {
    key: SecretKey,
    key_id: String,
    /// Repository key (lower-case `owner/name`) → secret name → record.
    repos: Mutex<BTreeMap<String, BTreeMap<String, SecretRec>>>,
}

impl std::fmt::Debug for SecretStore {
    // The private key never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretStore")
            .field("key_id", &self.key_id)
            .finish()
    }
}

impl SecretStore {
    pub fn new() -> SecretStore {
        let key = SecretKey::generate(&mut crypto_box::aead::OsRng);
        // GitHub's key ids are long decimal strings.
        let key_id = format!(
            "{}",
            3_380_204_578_043_523_366u64 + rand::random::<u32>() as u64
        );
        SecretStore {
            key,
            key_id,
            repos: Mutex::new(BTreeMap::new()),
        }
    }

    fn public_key_b64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.key.public_key().as_bytes())
    }

    /// The plaintext of secret `name` in `repo` (`owner/name`): what a
    /// workflow would see. For tests; never served over HTTP.
    pub fn open(&self, repo: &str, name: &str) -> Option<Vec<u8>> {
        let repos = self.repos.lock().expect("secrets lock");
        let rec = repos.get(&repo.to_lowercase())?.get(name)?;
        self.key.unseal(&rec.sealed).ok()
    }

    /// The names of `repo`'s secrets, sorted.
    pub fn names(&self, repo: &str) -> Vec<String> {
        let repos = self.repos.lock().expect("secrets lock");
        repos
            .get(&repo.to_lowercase())
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }
}

impl Default for SecretStore {
    fn default() -> Self {
        SecretStore::new()
    }
}

fn secret_json(name: &str, rec: &SecretRec) -> Value {
    json!({"name": name, "created_at": ts(rec.created_at), "updated_at": ts(rec.updated_at)})
}

fn invalid(message: &str) -> Response {
    reply(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"message": message,
            "documentation_url": "https://docs.github.com/rest/actions/secrets#create-or-update-a-repository-secret",
            "status": "422"}),
    )
}

/// GitHub's rules for a secret's name; the message it answers otherwise.
pub fn name_problem(name: &str) -> Option<&'static str> {
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Some(
            "Secret names can only contain alphanumeric characters ([a-z], [A-Z], [0-9]) or underscores (_). Spaces are not allowed. Must start with a letter ([a-z], [A-Z]) or underscores (_).",
        );
    }
    if name.to_ascii_uppercase().starts_with("GITHUB_") {
        return Some("Secret names must not start with GITHUB_.");
    }
    None
}

/// `GET /repos/{o}/{r}/actions/secrets/public-key`.
pub(super) async fn public_key(
    State(api): Api,
    Path((owner, repo)): Path<(String, String)>,
) -> Result<Response, Response> {
    api.repo_or_404(&owner, &repo)?;
    let s = &api.secrets;
    Ok(reply(
        StatusCode::OK,
        json!({"key_id": s.key_id, "key": s.public_key_b64()}),
    ))
}

/// `GET /repos/{o}/{r}/actions/secrets`.
pub(super) async fn list(
    State(api): Api,
    Path((owner, repo)): Path<(String, String)>,
) -> Result<Response, Response> {
    api.repo_or_404(&owner, &repo)?;
    let repos = api.secrets.repos.lock().expect("secrets lock");
    let items: Vec<Value> = repos
        .get(&repo_key(&owner, &repo))
        .into_iter()
        .flatten()
        .map(|(name, rec)| secret_json(name, rec))
        .collect();
    Ok(reply(
        StatusCode::OK,
        json!({"total_count": items.len(), "secrets": items}),
    ))
}

/// `GET /repos/{o}/{r}/actions/secrets/{name}`.
pub(super) async fn get_one(
    State(api): Api,
    Path((owner, repo, name)): Path<(String, String, String)>,
) -> Result<Response, Response> {
    api.repo_or_404(&owner, &repo)?;
    let repos = api.secrets.repos.lock().expect("secrets lock");
    let name = name.to_ascii_uppercase();
    match repos
        .get(&repo_key(&owner, &repo))
        .and_then(|m| m.get(&name))
    {
        Some(rec) => Ok(reply(StatusCode::OK, secret_json(&name, rec))),
        None => Ok(not_found()),
    }
}

/// `PUT /repos/{o}/{r}/actions/secrets/{name}`: 201 when created, 204 when
/// updated, as on GitHub.
pub(super) async fn put(
    State(api): Api,
    Path((owner, repo, name)): Path<(String, String, String)>,
    raw: axum::body::Bytes,
) -> Result<Response, Response> {
    api.repo_or_404(&owner, &repo)?;
    // GitHub stores secret names in upper case.
    let name = name.to_ascii_uppercase();
    if let Some(problem) = name_problem(&name) {
        return Ok(invalid(problem));
    }
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let (Some(value), Some(key_id)) = (
        body.get("encrypted_value").and_then(Value::as_str),
        body.get("key_id").and_then(Value::as_str),
    ) else {
        return Ok(invalid(
            "Invalid request.\n\n\"encrypted_value\" and \"key_id\" are required.",
        ));
    };
    let s = &api.secrets;
    if key_id != s.key_id {
        return Ok(invalid(
            "Invalid request.\n\n\"key_id\" is not the repository's current public key.",
        ));
    }
    let Ok(sealed) = base64::engine::general_purpose::STANDARD.decode(value) else {
        return Ok(invalid(
            "Invalid request.\n\n\"encrypted_value\" is not valid base64.",
        ));
    };
    if s.key.unseal(&sealed).is_err() {
        return Ok(invalid(
            "Invalid request.\n\n\"encrypted_value\" is not a sealed box for the repository's public key.",
        ));
    }
    let now = Utc::now();
    let mut repos = s.repos.lock().expect("secrets lock");
    let secrets = repos.entry(repo_key(&owner, &repo)).or_default();
    let status = match secrets.get_mut(&name) {
        Some(rec) => {
            rec.sealed = sealed;
            rec.updated_at = now;
            StatusCode::NO_CONTENT
        }
        None => {
            secrets.insert(
                name,
                SecretRec {
                    sealed,
                    created_at: now,
                    updated_at: now,
                },
            );
            StatusCode::CREATED
        }
    };
    Ok(if status == StatusCode::CREATED {
        reply(status, json!({}))
    } else {
        let mut r = Response::new(axum::body::Body::empty());
        *r.status_mut() = status;
        r
    })
}

/// `DELETE /repos/{o}/{r}/actions/secrets/{name}`.
pub(super) async fn delete(
    State(api): Api,
    Path((owner, repo, name)): Path<(String, String, String)>,
) -> Result<Response, Response> {
    api.repo_or_404(&owner, &repo)?;
    let mut repos = api.secrets.repos.lock().expect("secrets lock");
    let gone = repos
        .get_mut(&repo_key(&owner, &repo))
        .and_then(|m| m.remove(&name.to_ascii_uppercase()));
    Ok(match gone {
        Some(_) => {
            let mut r = Response::new(axum::body::Body::empty());
            *r.status_mut() = StatusCode::NO_CONTENT;
            r
        }
        None => not_found(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_follow_githubs_rules() {
        assert_eq!(name_problem("K3S_KUBECONFIG"), None);
        assert_eq!(name_problem("_X"), None);
        assert!(name_problem("GITHUB_TOKEN").unwrap().contains("GITHUB_"));
        assert!(name_problem("github_x").is_some());
        assert!(name_problem("1ABC").is_some());
        assert!(name_problem("A-B").is_some());
        assert!(name_problem("").is_some());
    }

    #[test]
    fn a_sealed_value_opens_with_the_stores_key() {
        let s = SecretStore::new();
        let pk = s.key.public_key();
        let sealed = pk.seal(&mut crypto_box::aead::OsRng, b"hello").unwrap();
        s.repos
            .lock()
            .unwrap()
            .entry("o/r".into())
            .or_default()
            .insert(
                "X".into(),
                SecretRec {
                    sealed,
                    created_at: Utc::now(),
                    updated_at: Utc::now(),
                },
            );
        assert_eq!(s.open("O/R", "X").as_deref(), Some(&b"hello"[..]));
        assert_eq!(s.open("o/r", "Y"), None);
        assert_eq!(s.names("o/r"), ["X"]);
    }
}
