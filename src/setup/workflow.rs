//! The caller stub of the reusable release workflow
//! (`.github/workflows/release-template.yml` in this repository), written
//! into each service's repository by `hearth setup --workflow`, and the
//! check of a workflow that is already there. Pure.
//!
//! The stub listens to `published` (a new release, a published draft: ship
//! and the clean rollback's round trip) and `released` (a prerelease made a
//! release: promote), and offers `workflow_dispatch` with a `tag` input (a
//! redeploy by hand, and the mechanism a clean rollback prefers). A new
//! stable release fires both `published` and `released`, so it starts two
//! runs of the same tag; the template's concurrency group runs them one
//! after the other and the second finds the image already set.

use crate::registry::Service;

use crate::ops::mechanism::{self, Triggers};

/// Where the reusable workflow lives: `owner/repo` and the ref to pin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    pub repo: String,
    pub git_ref: String,
}

impl Template {
    /// `owner/repo@ref` (the ref defaults to `main`).
    pub fn parse(text: &str) -> Result<Template, String> {
        let (repo, git_ref) = text.split_once('@').unwrap_or((text, "main"));
        let ok = repo.split('/').count() == 2
            && repo.split('/').all(|p| {
                !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            })
            && !git_ref.is_empty()
            && !git_ref.contains(char::is_whitespace);
        if !ok {
            return Err(format!(
                "--template {text:?}: expected OWNER/REPO or OWNER/REPO@REF (e.g. katforge/hearth@main)"
            ));
        }
        Ok(Template {
            repo: repo.to_string(),
            git_ref: git_ref.to_string(),
        })
    }

    fn uses(&self) -> String {
        format!(
            "{}/.github/workflows/release-template.yml@{}",
            self.repo, self.git_ref
        )
    }
}

/// The repository path of a service's workflow file.
pub fn path_of(service: &Service) -> String {
    format!(".github/workflows/{}", service.workflow)
}

fn quoted(s: &str) -> String {
    format!("{s:?}")
}

/// The caller stub for `service`. Secret names are the seed's.
pub fn stub(service: &Service, template: &Template, secrets: &Secrets) -> String {
    let image = service.image.as_deref().unwrap_or("");
    let dockerfile = service.dockerfile.as_deref().unwrap_or("Dockerfile");
    format!(
        r#"# Written by `hearth setup --workflow`: builds and deploys {name} when a
# release fires, through the shared release template. A prerelease deploys
# to qa, a release to prod (namespace default).
#   published: a new release, or a draft published (hearth ship, clean rollback)
#   released:  a prerelease made a release (hearth promote)
name: release

on:
  release:
    types: [published, released]
  workflow_dispatch:
    inputs:
      tag:
        description: The tag to deploy again.
        required: true
        type: string
      prerelease:
        description: Deploy to qa instead of prod.
        required: false
        type: boolean
        default: false

jobs:
  ship:
    uses: {uses}
    with:
      service: {name_q}
      image: {image}
      deployment: {deployment}
      dockerfile: {dockerfile}
      tag: ${{{{ inputs.tag || '' }}}}
      prerelease: ${{{{ inputs.prerelease || false }}}}
    secrets:
      K3S_KUBECONFIG: ${{{{ secrets.{kube} }}}}
{kube_qa}      KATFORGE_GITHUB_TOKEN: ${{{{ secrets.{token} }}}}
"#,
        name = service.name,
        name_q = quoted(&service.name),
        uses = template.uses(),
        image = quoted(image),
        deployment = quoted(&service.k8s_name),
        dockerfile = quoted(dockerfile),
        kube = secrets.kubeconfig,
        // qa on a cluster of its own: its kubeconfig is its own secret.
        kube_qa = secrets
            .kubeconfig_qa
            .as_deref()
            .map(|q| format!("      K3S_KUBECONFIG_QA: ${{{{ secrets.{q} }}}}\n"))
            .unwrap_or_default(),
        token = secrets.registry_token,
    )
}

/// The repository secret names the stub passes on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Secrets {
    /// The kubeconfig secret of prod's context (every environment's when
    /// they share a cluster).
    pub kubeconfig: String,
    /// The kubeconfig secret of qa's context when it differs from prod's
    /// (`hearth.ci.secrets.kubeconfig` as a map per context).
    pub kubeconfig_qa: Option<String>,
    pub registry_token: String,
}

impl Default for Secrets {
    fn default() -> Self {
        Secrets {
            kubeconfig: "K3S_KUBECONFIG".into(),
            kubeconfig_qa: None,
            registry_token: "KATFORGE_GITHUB_TOKEN".into(),
        }
    }
}

/// What is wrong with an existing workflow for hearth's operations: a
/// ship, a promote or a clean rollback that would start no run, each with
/// its one-line fix. Empty when all three work.
pub fn problems(existing: &str, workflow: &str) -> Vec<String> {
    let t = match Triggers::parse(existing) {
        Ok(t) => t,
        Err(e) => return vec![format!("{workflow}: {e}")],
    };
    let mut out = Vec::new();
    for (what, r) in [
        ("ship", mechanism::ship(&t, false, workflow).err()),
        ("promote", mechanism::promote(&t, workflow).err()),
        (
            "clean rollback",
            mechanism::clean_rollback(&t, workflow).err(),
        ),
    ] {
        if let Some(r) = r {
            out.push(format!("{what}: {}; fix: {}", r.message, r.fix));
        }
    }
    // Works through hearth, but not from GitHub's own "promote" (edit the
    // prerelease into a release): that fires `released` only.
    if mechanism::promote(&t, workflow) == Ok(mechanism::Mechanism::DraftRoundTrip) {
        out.push(format!(
            "promote: {workflow} has {}, so making a prerelease a release on GitHub deploys nothing \
             (hearth promote works around it with a draft round trip); fix: add `released`: \
             `on: {{release: {{types: [published, released]}}}}`",
            t.types_words()
        ));
    }
    out
}

/// What ship, promote and clean rollback will do with a workflow, in one
/// line for `hearth check`: `promote: edit · clean rollback: draft round
/// trip`, or what cannot work with its fix.
pub fn mechanisms(existing: &str, workflow: &str) -> String {
    let t = match Triggers::parse(existing) {
        Ok(t) => t,
        Err(e) => return format!("{workflow}: {e}"),
    };
    let word = |r: Result<mechanism::Mechanism, mechanism::Refusal>| match r {
        Ok(m) => m.short().to_string(),
        Err(r) => format!("NONE ({}; fix: {})", r.message, r.fix),
    };
    let ship = match mechanism::ship(&t, false, workflow) {
        Ok(()) => "a release starts it".to_string(),
        Err(r) => format!("NONE ({}; fix: {})", r.message, r.fix),
    };
    format!(
        "ship: {ship} · promote: {} · clean rollback: {}",
        word(mechanism::promote(&t, workflow)),
        word(mechanism::clean_rollback(&t, workflow))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::mechanism::Mechanism;

    fn api() -> Service {
        let mut s = Service::example("api");
        s.image = Some("ghcr.io/acme/api".into());
        s.dockerfile = Some("Dockerfile.prod".into());
        s
    }

    #[test]
    fn the_stub_triggers_every_operation_and_passes_the_inputs() {
        let t = Template::parse("acme/hearth@v1").unwrap();
        let text = stub(&api(), &t, &Secrets::default());
        let triggers = Triggers::parse(&text).unwrap();
        assert!(mechanism::ship(&triggers, false, "release.yml").is_ok());
        assert!(mechanism::ship(&triggers, true, "release.yml").is_ok());
        assert_eq!(
            mechanism::promote(&triggers, "release.yml").unwrap(),
            Mechanism::Edit
        );
        assert!(mechanism::clean_rollback(&triggers, "release.yml").is_ok());
        assert!(problems(&text, "release.yml").is_empty());
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        let job = &doc["jobs"]["ship"];
        assert_eq!(
            job["uses"].as_str(),
            Some("acme/hearth/.github/workflows/release-template.yml@v1")
        );
        assert_eq!(job["with"]["image"].as_str(), Some("ghcr.io/acme/api"));
        assert_eq!(job["with"]["dockerfile"].as_str(), Some("Dockerfile.prod"));
        assert_eq!(job["with"]["deployment"].as_str(), Some("api"));
        assert_eq!(
            job["secrets"]["K3S_KUBECONFIG"].as_str(),
            Some("${{ secrets.K3S_KUBECONFIG }}")
        );
    }

    /// qa on a cluster of its own: the stub passes qa's kubeconfig secret
    /// as K3S_KUBECONFIG_QA beside prod's; with one cluster it passes none.
    #[test]
    fn qa_on_its_own_cluster_gets_its_own_kubeconfig_secret() {
        let t = Template::parse("acme/hearth@v1").unwrap();
        let two = Secrets {
            kubeconfig: "PROD_KUBECONFIG".into(),
            kubeconfig_qa: Some("QA_KUBECONFIG".into()),
            registry_token: "TOKEN".into(),
        };
        let doc: serde_yaml::Value = serde_yaml::from_str(&stub(&api(), &t, &two)).unwrap();
        let secrets = &doc["jobs"]["ship"]["secrets"];
        assert_eq!(
            secrets["K3S_KUBECONFIG"].as_str(),
            Some("${{ secrets.PROD_KUBECONFIG }}")
        );
        assert_eq!(
            secrets["K3S_KUBECONFIG_QA"].as_str(),
            Some("${{ secrets.QA_KUBECONFIG }}")
        );
        let one = stub(&api(), &t, &Secrets::default());
        assert!(!one.contains("K3S_KUBECONFIG_QA"), "{one}");
        // The template takes it, optional, and uses it for qa's namespace.
        let template = include_str!("../../.github/workflows/release-template.yml");
        let tdoc: serde_yaml::Value = serde_yaml::from_str(template).unwrap();
        let declared = &tdoc["on"]["workflow_call"]["secrets"]["K3S_KUBECONFIG_QA"];
        assert_eq!(declared["required"].as_bool(), Some(false));
        assert!(template.contains("KUBECONFIG_DATA=\"$KUBECONFIG_QA_DATA\""));
    }

    #[test]
    fn a_published_only_workflow_is_reported_with_its_fix() {
        let seed = "on:\n  release:\n    types: [published]\njobs: {}\n";
        let p = problems(seed, "release.yml");
        // hearth's promote falls back to the draft round trip; a promote on
        // GitHub itself would deploy nothing, and that is said with the fix.
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("deploys nothing"), "{p:?}");
        assert!(p[0].contains("[published, released]"), "{p:?}");
        let push = "on:\n  push:\n    branches: [main]\njobs: {}\n";
        let p = problems(push, "release.yml");
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[1].starts_with("promote: "), "{p:?}");
        assert!(p[1].contains("fix: "), "{p:?}");
    }

    /// docs/examples/release.yml is what `setup --workflow` writes for the
    /// seed's api service; CI lints it with actionlint, so it must not drift
    /// from the code.
    #[test]
    fn the_example_stub_is_current() {
        let mut svc = Service::example("api");
        svc.image = Some("ghcr.io/katforge/api.katforge.com".into());
        svc.dockerfile = Some("Dockerfile.prod".into());
        let t = Template::parse("katforge/hearth@main").unwrap();
        let text = stub(&svc, &t, &Secrets::default());
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/examples/release.yml");
        if std::env::var_os("HEARTH_WRITE_EXAMPLES").is_some() {
            std::fs::write(path, &text).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert_eq!(
            committed, text,
            "docs/examples/release.yml is stale: run HEARTH_WRITE_EXAMPLES=1 cargo test the_example_stub_is_current"
        );
    }

    #[test]
    fn check_names_each_mechanism() {
        let seed = "on:\n  release:\n    types: [published]\njobs: {}\n";
        assert_eq!(
            mechanisms(seed, "release.yml"),
            "ship: a release starts it · promote: draft round trip · clean rollback: draft round trip"
        );
        let push = "on: push\njobs: {}\n";
        let line = mechanisms(push, "release.yml");
        assert!(
            line.starts_with("ship: NONE (publishing a release would start no run"),
            "{line}"
        );
    }

    #[test]
    fn template_refs_are_checked() {
        assert_eq!(Template::parse("katforge/hearth").unwrap().git_ref, "main");
        assert!(Template::parse("hearth").is_err());
        assert!(Template::parse("a/b@").is_err());
    }
}
