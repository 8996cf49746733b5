//! What `hearth check` prints: a summary of what hearth will do with a
//! valid registry. Pure, apart from reading the registry file (and seeing
//! whether each service's directory exists).

use std::fmt::Write as _;
use std::path::Path;

use super::{Registry, RegistryError, ReleaseKind, Service};

/// Load the registry at `path` and render its summary. `context` is the
/// `--context` option, shown for environments that name no kube context.
pub fn check(path: &Path, context: Option<&str>) -> Result<String, RegistryError> {
    let registry = super::load(path)?;
    Ok(summary(&registry, context))
}

/// A plain-text summary of a loaded registry: settings, then each service
/// with whether it ships (and why not), where it deploys and how it is checked.
pub fn summary(reg: &Registry, context: Option<&str>) -> String {
    let mut out = String::new();
    let shippable = reg.services.iter().filter(|s| s.shippable).count();
    let n = reg.services.len();
    let _ = writeln!(
        out,
        "{}: ok, {n} service{} ({shippable} shippable), environments {}",
        reg.path.display(),
        if n == 1 { "" } else { "s" },
        reg.environment_names().join(", ")
    );
    let s = &reg.settings;
    let _ = writeln!(
        out,
        "  github owner    {}",
        s.github_owner.as_deref().unwrap_or("(from each repo)")
    );
    let _ = writeln!(
        out,
        "  github api      {}",
        s.api_url
            .as_deref()
            .unwrap_or("https://api.github.com (default; GITHUB_API_URL overrides)")
    );
    let ship_all = match &s.ship_all {
        Some(list) => list.join(", "),
        None => {
            let all: Vec<&str> = reg
                .services
                .iter()
                .filter(|s| s.shippable)
                .map(|s| s.name.as_str())
                .collect();
            format!("{} (every shippable service)", all.join(", "))
        }
    };
    let _ = writeln!(out, "  ship all        {ship_all}");
    for svc in &reg.services {
        out.push('\n');
        service(&mut out, svc, context);
    }
    out
}

fn service(out: &mut String, svc: &Service, context: Option<&str>) {
    if svc.shippable {
        let _ = writeln!(out, "{}  shippable", svc.name);
    } else {
        let why = svc
            .shippable_reason
            .as_deref()
            .unwrap_or("no shippable_reason given");
        let _ = writeln!(out, "{}  not shippable: {why}", svc.name);
    }
    let row = |out: &mut String, label: &str, value: &str| {
        let _ = writeln!(out, "  {label:<14}{value}");
    };
    row(out, "image", svc.image.as_deref().unwrap_or("(none)"));
    row(out, "k8s_name", &svc.k8s_name);
    let repo = match &svc.repo {
        Some(r) => r.clone(),
        None => "(from the git remote of directory)".into(),
    };
    row(out, "repo", &repo);
    match svc.delivery {
        super::Delivery::Release => row(out, "workflow", &svc.workflow),
        super::Delivery::Dispatch => {
            row(
                out,
                "delivery",
                "dispatch (each environment deployed by its own workflow)",
            );
            row(
                out,
                "build",
                svc.build_workflow.as_deref().unwrap_or("(none)"),
            );
        }
        super::Delivery::Push => row(
            out,
            "delivery",
            "push (a push to the branch or a version tag starts the workflow that deploys)",
        ),
        super::Delivery::Gitops => {
            row(
                out,
                "delivery",
                "gitops (a version tag builds; a manifest commit Flux applies deploys)",
            );
            row(
                out,
                "build",
                svc.build_workflow.as_deref().unwrap_or("(none)"),
            );
            if let Some(g) = &svc.gitops {
                let repo = match (&g.dir, &g.url) {
                    (Some(d), _) if d.is_dir() => d.display().to_string(),
                    (Some(d), _) => format!("{} (not found)", d.display()),
                    (None, Some(u)) => format!(
                        "{} (cloned into hearth's state directory)",
                        crate::ops::gitops::shown_url(u)
                    ),
                    (None, None) => "(none)".into(),
                };
                row(out, "gitops", &format!("{repo}, branch {}", g.branch));
            }
        }
    }
    let dir = svc.directory.display().to_string();
    let dir = if svc.directory.is_dir() {
        dir
    } else {
        format!("{dir} (not found)")
    };
    row(out, "directory", &dir);
    if let Some(d) = &svc.dockerfile {
        row(out, "dockerfile", d);
    }
    if let Some(h) = &svc.dev_host {
        row(out, "dev_host", h);
    }
    if let Some(c) = &svc.pre_ship_cmd {
        row(out, "pre_ship", c);
    }
    let width = svc
        .environments
        .iter()
        .map(|e| e.name.len())
        .max()
        .unwrap_or(0);
    let ns_width = svc
        .environments
        .iter()
        .map(|e| e.place().len())
        .max()
        .unwrap_or(0);
    for (i, env) in svc.environments.iter().enumerate() {
        let ctx = match (&env.context, context) {
            (Some(c), _) => c.clone(),
            (None, Some(c)) => format!("{c} (--context)"),
            (None, None) => "current".into(),
        };
        let release = match (&env.workflow, env.release) {
            (Some(w), _) if svc.delivery == super::Delivery::Push => match env.trigger {
                Some(super::Trigger::Tag) => format!("workflow {w} (on a pushed version tag)"),
                _ => format!("workflow {w} (on a push to the branch)"),
            },
            (Some(w), _) => format!(
                "workflow {w} (input {})",
                env.input.as_deref().unwrap_or(super::DEFAULT_INPUT)
            ),
            (None, _) if svc.delivery == super::Delivery::Gitops => {
                let at = match env.manifest.as_ref().map(|m| &m.at) {
                    Some(super::ImageAt::Setter(p)) => format!(" (marker {p})"),
                    Some(super::ImageAt::Path(p)) => format!(" at {p}"),
                    None => String::new(),
                };
                let ks = env
                    .kustomization
                    .as_ref()
                    .map(|(ns, n)| format!(", applied by Kustomization {ns}/{n}"))
                    .unwrap_or_default();
                format!(
                    "manifest {}{at}{ks}",
                    env.manifest.as_ref().map_or("(none)", |m| m.file.as_str())
                )
            }
            (None, ReleaseKind::Latest) => "release latest".into(),
            (None, ReleaseKind::Prerelease) => "release prerelease".into(),
        };
        let accent = env
            .accent
            .as_ref()
            .map(|a| format!("  accent {a}"))
            .unwrap_or_default();
        // A host has no kube context; its version endpoint says what runs.
        let ctx = match &env.host {
            Some(_) => match svc.version_endpoint(env) {
                Some((url, _)) => format!("read by {url}"),
                None => "no version endpoint".into(),
            },
            None => format!("context {ctx}"),
        };
        let line = format!(
            "{:<width$}  {:<ns_width$}  {ctx}  {release}{accent}",
            env.name,
            env.place()
        );
        row(out, if i == 0 { "environments" } else { "" }, &line);
    }
    if svc.environments.is_empty() {
        row(out, "environments", "(none)");
    }
    for (i, smoke) in svc.smoke.iter().enumerate() {
        let body = smoke
            .body
            .as_ref()
            .map(|b| format!(" with {b:?}"))
            .unwrap_or_default();
        let line = format!("GET {} → {}{body}", smoke.url, smoke.status);
        row(out, if i == 0 { "smoke" } else { "" }, &line);
    }
}
