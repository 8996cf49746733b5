//! Who is asking, and may they: bearer-token authentication and RBAC
//! authorization for the sandbox Kubernetes API, the way an apiserver does
//! them, so that a client's rights can be tested (a read-only `hearth watch`,
//! the CI deployer's kubeconfig).
//!
//! - The static admin token of the sandbox's kubeconfig is `hearth-sandbox`,
//!   in `system:masters` (allowed everything).
//! - A ServiceAccount's token is the `token` of a
//!   `kubernetes.io/service-account-token` Secret the token controller
//!   filled in; its user is `system:serviceaccount:NS:NAME`.
//! - Anything else (no token, an unknown one) is 401 `Unauthorized`.
//! - Resource requests are checked against the Roles, ClusterRoles and
//!   their bindings in the store, read at request time; a refusal is 403
//!   with Kubernetes' own message. Non-resource URLs (discovery, version,
//!   health, OpenAPI) are open to any authenticated user, as
//!   `system:discovery` makes them.

use serde_json::Value;

use super::store::{Kind, Store};

/// The sandbox kubeconfig's static admin token.
pub const ADMIN_TOKEN: &str = "hearth-sandbox-token";
/// The admin's user name.
pub const ADMIN_USER: &str = "hearth-sandbox";
/// The Secret type a token controller fills in.
pub const SA_TOKEN_TYPE: &str = "kubernetes.io/service-account-token";
/// The annotation naming a token Secret's ServiceAccount.
pub const SA_NAME_ANNOTATION: &str = "kubernetes.io/service-account.name";

/// An authenticated user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    pub groups: Vec<String>,
}

impl Identity {
    fn admin() -> Identity {
        Identity {
            user: ADMIN_USER.into(),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
        }
    }

    fn service_account(ns: &str, name: &str) -> Identity {
        Identity {
            user: format!("system:serviceaccount:{ns}:{name}"),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{ns}"),
                "system:authenticated".into(),
            ],
        }
    }
}

/// Who a bearer token belongs to; `None` is 401.
pub fn authenticate(store: &Store, token: Option<&str>) -> Option<Identity> {
    let token = token?.trim();
    if token.is_empty() {
        return None;
    }
    if token == ADMIN_TOKEN {
        return Some(Identity::admin());
    }
    store
        .list(Kind::Secret, None)
        .into_iter()
        .filter(|s| s["type"] == SA_TOKEN_TYPE)
        .find(|s| {
            s["data"]["token"]
                .as_str()
                .and_then(decode_base64)
                .is_some_and(|t| t == token.as_bytes())
        })
        .and_then(|s| {
            let ns = s["metadata"]["namespace"].as_str()?;
            let sa = s["metadata"]["annotations"][SA_NAME_ANNOTATION].as_str()?;
            // A token stops working once its ServiceAccount is gone.
            store.get(Kind::ServiceAccount, ns, sa)?;
            Some(Identity::service_account(ns, sa))
        })
}

/// What a resource request wants to do.
#[derive(Clone, Debug)]
pub struct Attributes<'a> {
    /// get, list, watch, create, update, patch, delete.
    pub verb: &'a str,
    pub kind: Kind,
    /// `log`, `scale`, `status`.
    pub subresource: Option<&'a str>,
    pub namespace: Option<&'a str>,
    pub name: Option<&'a str>,
}

impl Attributes<'_> {
    /// `pods/log`, `deployments`.
    fn resource(&self) -> String {
        match self.subresource {
            Some(sub) => format!("{}/{sub}", self.kind.plural()),
            None => self.kind.plural().to_string(),
        }
    }
}

/// Whether `who` may do `what`, by the RBAC objects in the store.
pub fn allowed(store: &Store, who: &Identity, what: &Attributes<'_>) -> bool {
    if who.groups.iter().any(|g| g == "system:masters") {
        return true;
    }
    let rules_allow = |role: &Value| {
        role["rules"]
            .as_array()
            .is_some_and(|rules| rules.iter().any(|r| rule_allows(r, what)))
    };
    let cluster_role = |name: &str| store.get(Kind::ClusterRole, "", name).cloned();
    // ClusterRoleBindings grant everywhere.
    let cluster_wide = store
        .list(Kind::ClusterRoleBinding, None)
        .into_iter()
        .filter(|b| binds(b, who))
        .filter(|b| b["roleRef"]["kind"] == "ClusterRole")
        .filter_map(|b| cluster_role(b["roleRef"]["name"].as_str()?))
        .any(|role| rules_allow(&role));
    if cluster_wide {
        return true;
    }
    // RoleBindings grant in their own namespace only.
    let Some(ns) = what.namespace else {
        return false;
    };
    store
        .list(Kind::RoleBinding, Some(ns))
        .into_iter()
        .filter(|b| binds(b, who))
        .filter_map(|b| {
            let name = b["roleRef"]["name"].as_str()?;
            match b["roleRef"]["kind"].as_str()? {
                "Role" => store.get(Kind::Role, ns, name).cloned(),
                "ClusterRole" => cluster_role(name),
                _ => None,
            }
        })
        .any(|role| rules_allow(&role))
}

/// Whether a binding names `who` among its subjects.
fn binds(binding: &Value, who: &Identity) -> bool {
    binding["subjects"].as_array().is_some_and(|subjects| {
        subjects.iter().any(|s| {
            let name = s["name"].as_str().unwrap_or("");
            match s["kind"].as_str().unwrap_or("") {
                "User" => who.user == name,
                "Group" => who.groups.iter().any(|g| g == name),
                "ServiceAccount" => {
                    let ns = s["namespace"]
                        .as_str()
                        .or_else(|| binding["metadata"]["namespace"].as_str())
                        .unwrap_or("");
                    who.user == format!("system:serviceaccount:{ns}:{name}")
                }
                _ => false,
            }
        })
    })
}

fn rule_allows(rule: &Value, what: &Attributes<'_>) -> bool {
    let has = |field: &str, want: &str| {
        rule[field]
            .as_array()
            .is_some_and(|v| v.iter().any(|x| x == "*" || x == want))
    };
    let names_ok = match rule["resourceNames"].as_array() {
        None => true,
        Some(names) if names.is_empty() => true,
        Some(names) => what.name.is_some_and(|n| names.iter().any(|x| x == n)),
    };
    has("apiGroups", what.kind.group())
        && (has("resources", &what.resource())
            || what
                .subresource
                .is_some_and(|sub| has("resources", &format!("*/{sub}"))))
        && has("verbs", what.verb)
        && names_ok
}

/// Kubernetes' wording of a refusal:
/// `deployments.apps "api" is forbidden: User "…" cannot patch resource
/// "deployments" in API group "apps" in the namespace "default"`.
pub fn forbidden_message(who: &Identity, what: &Attributes<'_>) -> String {
    let object = match what.name {
        Some(n) => format!("{} \"{n}\"", what.kind.qualified()),
        None => what.kind.qualified(),
    };
    let scope = match what.namespace {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".to_string(),
    };
    format!(
        "{object} is forbidden: User \"{}\" cannot {} resource \"{}\" in API group \"{}\" {scope}",
        who.user,
        what.verb,
        what.resource(),
        what.kind.group()
    )
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding, as Secret `data` holds it.
pub fn encode_base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The inverse of [`encode_base64`]; `None` for anything else.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        let v = B64.iter().position(|&x| x == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn base64_round_trips() {
        for s in ["", "a", "ab", "abc", "abcd", "hearth-watch token ✓"] {
            let e = encode_base64(s.as_bytes());
            assert_eq!(decode_base64(&e).unwrap(), s.as_bytes(), "{e}");
        }
        assert_eq!(encode_base64(b"abc"), "YWJj");
        assert_eq!(encode_base64(b"ab"), "YWI=");
        assert!(decode_base64("not base64!").is_none());
    }

    fn store_with(objects: &[(Kind, Value)]) -> Store {
        let mut store = Store::new(16);
        for (kind, obj) in objects {
            store.create(*kind, obj.clone()).unwrap();
        }
        store
    }

    fn watch_rbac() -> Store {
        store_with(&[
            (
                Kind::ServiceAccount,
                json!({"metadata": {"name": "hearth-watch", "namespace": "default"}}),
            ),
            (
                Kind::Secret,
                json!({"metadata": {"name": "hearth-watch-token", "namespace": "default",
                    "annotations": {SA_NAME_ANNOTATION: "hearth-watch"}},
                    "type": SA_TOKEN_TYPE, "data": {"token": encode_base64(b"t0k3n")}}),
            ),
            (
                Kind::ClusterRole,
                json!({"metadata": {"name": "hearth-watch"}, "rules": [
                    {"apiGroups": ["apps"], "resources": ["deployments", "replicasets"], "verbs": ["get", "list", "watch"]},
                    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}
                ]}),
            ),
            (
                Kind::ClusterRoleBinding,
                json!({"metadata": {"name": "hearth-watch"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "hearth-watch"},
                    "subjects": [{"kind": "ServiceAccount", "name": "hearth-watch", "namespace": "default"}]}),
            ),
            (
                Kind::Role,
                json!({"metadata": {"name": "deployer", "namespace": "qa"}, "rules": [
                    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "patch"], "resourceNames": ["api"]}
                ]}),
            ),
            (
                Kind::RoleBinding,
                json!({"metadata": {"name": "deployer", "namespace": "qa"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "deployer"},
                    "subjects": [{"kind": "ServiceAccount", "name": "hearth-watch", "namespace": "default"}]}),
            ),
        ])
    }

    fn attrs<'a>(
        verb: &'a str,
        kind: Kind,
        ns: Option<&'a str>,
        name: Option<&'a str>,
    ) -> Attributes<'a> {
        Attributes {
            verb,
            kind,
            subresource: None,
            namespace: ns,
            name,
        }
    }

    #[test]
    fn tokens_name_their_user() {
        let store = watch_rbac();
        assert_eq!(
            authenticate(&store, Some(ADMIN_TOKEN)).unwrap().user,
            ADMIN_USER
        );
        assert_eq!(
            authenticate(&store, Some("t0k3n")).unwrap().user,
            "system:serviceaccount:default:hearth-watch"
        );
        assert!(authenticate(&store, Some("nope")).is_none());
        assert!(authenticate(&store, None).is_none());
        assert!(authenticate(&store, Some("")).is_none());
    }

    #[test]
    fn bindings_grant_exactly_their_rules() {
        let store = watch_rbac();
        let who = authenticate(&store, Some("t0k3n")).unwrap();
        let ok = |a: Attributes<'_>| allowed(&store, &who, &a);
        assert!(ok(attrs("watch", Kind::Deployment, Some("default"), None)));
        assert!(
            ok(attrs("list", Kind::Pod, None, None)),
            "a ClusterRoleBinding reaches every namespace"
        );
        assert!(!ok(attrs(
            "patch",
            Kind::Deployment,
            Some("default"),
            Some("api")
        )));
        assert!(!ok(attrs("get", Kind::Secret, Some("default"), Some("x"))));
        // The Role in qa: patch only the named deployment, only there.
        assert!(ok(attrs(
            "patch",
            Kind::Deployment,
            Some("qa"),
            Some("api")
        )));
        assert!(!ok(attrs(
            "patch",
            Kind::Deployment,
            Some("qa"),
            Some("web")
        )));
        assert!(!ok(attrs(
            "delete",
            Kind::Deployment,
            Some("qa"),
            Some("api")
        )));
        let log = Attributes {
            subresource: Some("log"),
            ..attrs("get", Kind::Pod, Some("qa"), Some("p"))
        };
        assert!(!ok(log), "pods/log is its own resource");
        let admin = authenticate(&store, Some(ADMIN_TOKEN)).unwrap();
        assert!(allowed(
            &store,
            &admin,
            &attrs("delete", Kind::Namespace, None, Some("qa"))
        ));
    }

    #[test]
    fn refusals_read_like_kubernetes() {
        let who = Identity::service_account("default", "hearth-watch");
        assert_eq!(
            forbidden_message(&who, &attrs("patch", Kind::Deployment, Some("default"), Some("api"))),
            "deployments.apps \"api\" is forbidden: User \"system:serviceaccount:default:hearth-watch\" cannot patch resource \"deployments\" in API group \"apps\" in the namespace \"default\""
        );
        assert_eq!(
            forbidden_message(&who, &attrs("list", Kind::Namespace, None, None)),
            "namespaces is forbidden: User \"system:serviceaccount:default:hearth-watch\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope"
        );
    }
}
