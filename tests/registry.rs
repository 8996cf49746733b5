//! Integration tests of the services.yaml registry: loading real files from a
//! temporary folder, defaults, overrides, every error kind with its exact
//! position and key path, and `hearth check`'s logic through the library.

use std::path::{Path, PathBuf};

use hearth::registry::{
    self, check, Environment, ProblemKind, Registry, RegistryError, ReleaseKind, SmokeCheck,
};

/// The two blocks of the seed's services.yaml, verbatim (3-space indentation).
const SEED: &str = "\
api:
   directory:    api.katforge.com
   image:        ghcr.io/katforge/api.katforge.com
   dockerfile:   Dockerfile.prod
   k8s_name:     api
   dev_host:     api.dev.katforge.com
   pre_ship_cmd: ./bin/phpunit --testsuite Feature

geargoblins:
   directory:        geargoblins.com/ui
   image:            ghcr.io/katforge/geargoblins.com
   k8s_name:         geargoblins
   shippable:        false
   shippable_reason: No Dockerfile in geargoblins.com/ui yet.
";

/// Write `text` as services.yaml in a fresh folder and load it.
fn load_file(text: &str) -> (tempfile::TempDir, Result<Registry, RegistryError>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("services.yaml");
    std::fs::write(&path, text).unwrap();
    let result = registry::load(&path);
    (dir, result)
}

/// Validate `text` as if it were `services.yaml` in `/reg`.
fn parse(text: &str) -> Result<Registry, RegistryError> {
    registry::load_str(text, Path::new("services.yaml"), Path::new("/reg"))
}

/// The error lines for `text`, which must be invalid.
fn errors(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(r) => panic!("expected an error, loaded {r:#?}"),
        Err(e) => e.to_string().lines().map(str::to_string).collect(),
    }
}

#[test]
fn seed_blocks_load_verbatim() {
    let (dir, result) = load_file(SEED);
    let reg = result.unwrap();
    assert_eq!(reg.services.len(), 2);

    let api = reg.service("api").unwrap();
    assert_eq!(api.directory, dir.path().join("api.katforge.com"));
    assert_eq!(
        api.image.as_deref(),
        Some("ghcr.io/katforge/api.katforge.com")
    );
    assert_eq!(api.dockerfile.as_deref(), Some("Dockerfile.prod"));
    assert_eq!(api.k8s_name, "api");
    assert_eq!(api.dev_host.as_deref(), Some("api.dev.katforge.com"));
    assert_eq!(
        api.pre_ship_cmd.as_deref(),
        Some("./bin/phpunit --testsuite Feature")
    );
    assert!(api.shippable);
    assert_eq!(api.shippable_reason, None);

    let gg = reg.service("geargoblins").unwrap();
    assert_eq!(gg.directory, dir.path().join("geargoblins.com/ui"));
    assert_eq!(gg.k8s_name, "geargoblins");
    assert!(!gg.shippable);
    assert_eq!(
        gg.shippable_reason.as_deref(),
        Some("No Dockerfile in geargoblins.com/ui yet.")
    );
    assert_eq!(gg.dockerfile, None);
    assert_eq!(gg.pre_ship_cmd, None);
}

#[test]
fn defaults_apply() {
    let reg = parse("svc:\n  image: ghcr.io/o/svc\n").unwrap();
    let svc = reg.service("svc").unwrap();
    assert_eq!(svc.k8s_name, "svc");
    assert!(svc.shippable);
    assert_eq!(svc.workflow, "release.yml");
    assert_eq!(svc.repo, None);
    assert_eq!(svc.directory, PathBuf::from("/reg/svc"));
    assert!(svc.smoke.is_empty());
    assert_eq!(svc.environments, Environment::defaults());
    assert_eq!(reg.settings, registry::Settings::default());
    // The seed's routing: prod = default (latest), qa = qa (prerelease).
    let prod = &svc.environments[0];
    assert_eq!(
        (prod.name.as_str(), prod.namespace.as_str(), prod.release),
        ("prod", "default", ReleaseKind::Latest)
    );
    let qa = &svc.environments[1];
    assert_eq!(
        (qa.name.as_str(), qa.namespace.as_str(), qa.release),
        ("qa", "qa", ReleaseKind::Prerelease)
    );
    assert_eq!(prod.context, None);
    assert_eq!(svc.environment_for(ReleaseKind::Prerelease), Some(qa));
    assert_eq!(svc.environment("prod"), Some(prod));
    // No ship_all list: every shippable service ships.
    assert_eq!(reg.ship_all().len(), 1);
}

#[test]
fn settings_and_optional_keys() {
    let reg = parse(
        "\
hearth:
  github_owner: acme
  api_url: https://github.acme.test/api/v3/
  ship_all: [web]
api:
  image: ghcr.io/acme/api
  repo: acme/api-server
  workflow: deploy.yaml
  smoke:
    - https://api.acme.test/ready
    - url: https://api.acme.test/me
      status: 401
      body: unauthenticated
web:
  image: ghcr.io/acme/web
",
    )
    .unwrap();
    assert_eq!(reg.settings.github_owner.as_deref(), Some("acme"));
    assert_eq!(
        reg.settings.api_url.as_deref(),
        Some("https://github.acme.test/api/v3")
    );
    assert_eq!(reg.settings.ship_all, Some(vec!["web".to_string()]));
    let names: Vec<&str> = reg.ship_all().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["web"]);
    let api = reg.service("api").unwrap();
    assert_eq!(api.repo.as_deref(), Some("acme/api-server"));
    assert_eq!(api.workflow, "deploy.yaml");
    assert_eq!(
        api.smoke,
        vec![
            SmokeCheck {
                url: "https://api.acme.test/ready".into(),
                status: 200,
                body: None
            },
            SmokeCheck {
                url: "https://api.acme.test/me".into(),
                status: 401,
                body: Some("unauthenticated".into())
            },
        ]
    );
    // The settings block is not a service.
    assert_eq!(reg.services.len(), 2);
    assert!(reg.service("hearth").is_none());
}

#[test]
fn environment_overrides_merge_by_name() {
    let reg = parse(
        "\
hearth:
  environments:
    prod: {accent: magenta}
    qa: {namespace: staging, context: lab}
    canary: {namespace: canary, release: latest, context: edge, accent: '#ff8800'}
api:
  image: ghcr.io/o/api
  environments:
    prod: {context: prod-cluster}
    canary: false
    perf: {namespace: perf, release: prerelease}
web:
  image: ghcr.io/o/web
",
    )
    .unwrap();
    let names = |r: &Registry, s: &str| -> Vec<String> {
        r.service(s)
            .unwrap()
            .environments
            .iter()
            .map(|e| e.name.clone())
            .collect()
    };
    // Global: prod and qa start from the seed's defaults; canary is new.
    let g = &reg.settings.environments;
    assert_eq!(g.len(), 3);
    assert_eq!(g[0].namespace, "default");
    assert_eq!(g[0].release, ReleaseKind::Latest);
    assert_eq!(g[0].accent.as_deref(), Some("magenta"));
    assert_eq!(g[1].namespace, "staging");
    assert_eq!(g[1].context.as_deref(), Some("lab"));
    assert_eq!(g[1].release, ReleaseKind::Prerelease);

    assert_eq!(names(&reg, "web"), ["prod", "qa", "canary"]);
    assert_eq!(names(&reg, "api"), ["prod", "qa", "perf"]);
    let api = reg.service("api").unwrap();
    let prod = &api.environments[0];
    assert_eq!(prod.context.as_deref(), Some("prod-cluster"));
    assert_eq!(prod.namespace, "default");
    assert_eq!(prod.accent.as_deref(), Some("magenta"));
    assert_eq!(api.environments[2].namespace, "perf");
    assert_eq!(api.environments[2].release, ReleaseKind::Prerelease);
    assert_eq!(reg.environment_names(), ["prod", "qa", "canary", "perf"]);
}

#[test]
fn merge_keys_and_anchors_share_blocks() {
    let reg = parse(
        "\
api: &base
  image: ghcr.io/o/api
  pre_ship_cmd: make test
web:
  <<: *base
  image: ghcr.io/o/web
",
    )
    .unwrap();
    let web = reg.service("web").unwrap();
    assert_eq!(web.image.as_deref(), Some("ghcr.io/o/web"));
    assert_eq!(web.pre_ship_cmd.as_deref(), Some("make test"));
}

#[test]
fn directory_relative_to_registry_folder_or_absolute() {
    let (dir, result) = load_file(
        "\
a:
  image: x/a
  directory: sub/a
b:
  image: x/b
  directory: /opt/b
c:
  image: x/c
  directory: ../c
",
    );
    let reg = result.unwrap();
    assert_eq!(
        reg.service("a").unwrap().directory,
        dir.path().join("sub/a")
    );
    assert_eq!(reg.service("b").unwrap().directory, PathBuf::from("/opt/b"));
    assert_eq!(
        reg.service("c").unwrap().directory,
        dir.path().parent().unwrap().join("c")
    );
}

#[test]
fn typo_is_located_and_suggested() {
    // The acceptance check's case: line 3 of the seed says `imagee`.
    let typo = SEED.replacen("   image: ", "   imagee: ", 1);
    let (_dir, result) = load_file(&typo);
    let err = result.unwrap_err();
    let first = &err.problems[0];
    assert_eq!(first.path, "api.imagee");
    assert_eq!((first.pos.unwrap().line, first.pos.unwrap().col), (3, 4));
    assert_eq!(
        first.kind,
        ProblemKind::UnknownKey {
            suggestion: Some("image".into()),
            expected: registry::SERVICE_KEYS.to_vec()
        }
    );
    // Exactly one problem: no second "has no image" complaint for the same typo.
    assert_eq!(err.problems.len(), 1, "{err}");
    let msg = err.to_string();
    assert!(
        msg.ends_with("services.yaml:3:4: api.imagee: unknown key; did you mean `image`?"),
        "{msg}"
    );
}

#[test]
fn invalid_yaml_is_located() {
    assert_eq!(
        errors("api:\n  image: [unclosed\n"),
        ["services.yaml:3:1: api.image: invalid YAML: while parsing a flow sequence, expected ',' or ']'"]
    );
    // A bad indent: located on its line, inside the block that was open.
    let got = errors("api:\n  image: x\n bad: 1\n");
    assert_eq!(got.len(), 1);
    assert!(got[0].starts_with("services.yaml:3:"), "{got:?}");
    assert!(got[0].contains("invalid YAML"), "{got:?}");
}

#[test]
fn each_error_kind_names_line_column_and_key_path() {
    let cases: &[(&str, &str)] = &[
        // unknown key without a near match lists the valid ones
        (
            "api:\n  image: x/api\n  colour: red\n",
            "services.yaml:3:3: api.colour: unknown key; expected one of `directory`, `image`, `dockerfile`, `k8s_name`, `dev_host`, `pre_ship_cmd`, `shippable`, `shippable_reason`, `repo`, `workflow`, `environments`, `smoke`, `delivery`, `build`, `version`, `helm_history`, `stale`, `gitops`",
        ),
        // wrong type
        (
            "api:\n  image: x/api\n  shippable: 1\n",
            "services.yaml:3:14: api.shippable: expected true or false, found a number",
        ),
        (
            "api:\n  image: [a, b]\n",
            "services.yaml:2:10: api.image: expected a string, found a list",
        ),
        (
            "api: just-a-string\n",
            "services.yaml:1:6: api: expected a map of service settings, found a string",
        ),
        (
            "- api\n- web\n",
            "services.yaml:1:1: expected a map of service name → settings, found a list",
        ),
        // shippable without image
        (
            "api:\n  directory: api\n",
            "services.yaml:1:1: api: shippable service has no `image`; add `image: <registry>/<name>`, or set `shippable: false` and a `shippable_reason`",
        ),
        // ship_all naming no service
        (
            "api:\n  image: x/api\nhearth:\n  ship_all: [api, apii]\n",
            "services.yaml:4:19: hearth.ship_all[1]: `apii` names no service in this registry; did you mean `api`?",
        ),
        // ship_all naming a non-shippable service
        (
            "api:\n  image: x/api\ndocs:\n  shippable: false\nhearth:\n  ship_all: [docs]\n",
            "services.yaml:6:14: hearth.ship_all[0]: `docs` is not shippable (`shippable: false`), so it cannot be in `ship_all`",
        ),
        // environment without namespace (global and per service)
        (
            "api:\n  image: x/api\nhearth:\n  environments:\n    staging:\n      release: latest\n",
            "services.yaml:5:5: hearth.environments.staging: missing `namespace`; every environment names the namespace it deploys to (or, deployed by a dispatch workflow outside Kubernetes, its `host` and `version` endpoint)",
        ),
        (
            "api:\n  image: x/api\n  environments:\n    prdo:\n      release: latest\n",
            "services.yaml:4:5: api.environments.prdo: missing `namespace` (`prdo` is a new environment here; did you mean `prod`?)",
        ),
        // bad release kind
        (
            "api:\n  image: x/api\n  environments:\n    qa: {release: stable}\n",
            "services.yaml:4:19: api.environments.qa.release: unknown release kind `stable`; expected `latest` (prod) or `prerelease` (qa)",
        ),
        // duplicate key
        (
            "api:\n  image: x/api\n  image: x/api2\n",
            "services.yaml:3:3: api.image: duplicate key (first given on line 2)",
        ),
        // YAML 1.1 booleans are strings in YAML 1.2
        (
            "api:\n  image: x/api\n  shippable: no\n",
            "services.yaml:3:14: api.shippable: expected true or false, found the string `no` (YAML 1.2 reads it as text); write `false`",
        ),
        // a tag on the image
        (
            "api:\n  image: ghcr.io/o/api:v1\n",
            "services.yaml:2:10: api.image: give the image repository without a tag or digest (`ghcr.io/o/api`); hearth adds the release tag",
        ),
        // repo shape
        (
            "api:\n  image: x/api\n  repo: just-a-name\n",
            "services.yaml:3:9: api.repo: `just-a-name` is not a GitHub repository; write `owner/name`",
        ),
        // smoke check
        (
            "api:\n  image: x/api\n  smoke:\n    - url: https://x.test/ready\n      status: 99\n",
            "services.yaml:5:15: api.smoke[0].status: 99 is not an HTTP status (100-599)",
        ),
        (
            "api:\n  image: x/api\n  smoke:\n    - {body: ok}\n",
            "services.yaml:4:7: api.smoke[0]: missing `url`; a smoke check needs the URL to request",
        ),
        // accent colour
        (
            "api:\n  image: x/api\n  environments:\n    qa: {accent: blurple}\n",
            "services.yaml:4:18: api.environments.qa.accent: `blurple` is not a colour; use a name (red, yellow, light-blue, ...), an index 0-255 or #rrggbb",
        ),
        // misspelt settings block
        (
            "api:\n  image: x/api\nheart:\n  github_owner: acme\n",
            "services.yaml:3:1: heart: unknown key; did you mean `hearth`?",
        ),
        // nothing in the file
        (
            "# nothing yet\n",
            "services.yaml:1:1: the registry defines no services; expected a map of service name → settings (see docs/services-yaml.md)",
        ),
        // k8s_name shape
        (
            "Api:\n  image: x/api\n",
            "services.yaml:1:1: Api: `Api` is not a valid Kubernetes deployment name: lowercase letters, digits, `-` and `.` (k8s_name defaults to the service name; set `k8s_name`)",
        ),
        // a service key that lost its indentation
        (
            "api:\n  image: x/api\ndockerfile: Dockerfile\n",
            "services.yaml:3:1: dockerfile: `dockerfile` is a service setting, not a service; indent it under the service it belongs to",
        ),
        // an empty environments map
        (
            "api:\n  image: x/api\nhearth:\n  environments: {}\n",
            "services.yaml:4:17: hearth.environments: name at least one environment (or leave `environments` out for prod and qa)",
        ),
        // removing an environment that does not exist
        (
            "api:\n  image: x/api\n  environments:\n    qaa: false\n",
            "services.yaml:4:5: api.environments.qaa: `qaa: false` removes no environment; did you mean `qa`?",
        ),
        // delivery models: unknown, not built yet, and dispatch's needs
        (
            "api:\n  image: x/api\n  delivery: carrier-pigeon\n",
            "services.yaml:3:13: api.delivery: `carrier-pigeon` is not a delivery model: use one of release, dispatch, push, gitops",
        ),
        (
            "api:\n  image: x/api\n  delivery: dispatchh\n",
            "services.yaml:3:13: api.delivery: `dispatchh` is not a delivery model: use one of release, dispatch, push, gitops; did you mean `dispatch`?",
        ),
        (
            "api:\n  image: x/api\n  delivery: gitops\n  build: { workflow: build.yml }\n  environments:\n    qa: { manifest: { file: apps/qa/api.yaml, setter: \"flux-system:api\" }, kustomization: flux-system/apps-qa }\n    prod: { manifest: { file: apps/prod/api.yaml, setter: \"flux-system:api\" }, kustomization: apps-prod }\n",
            "services.yaml:3:13: api.delivery: `delivery: gitops` needs the repository of manifests: add `gitops: { repo: ../gitops, branch: main }`",
        ),
        (
            "api:\n  image: x/api\n  delivery: gitops\n  gitops: { repo: ../gitops }\n  build: { workflow: build.yml }\n  environments:\n    qa: { manifest: { file: ../qa.yaml, setter: \"flux-system:api\" }, kustomization: flux-system/apps-qa }\n    prod: { manifest: { file: apps/prod/api.yaml, setter: \"flux-system:api\" }, kustomization: apps-prod }\n",
            "services.yaml:7:29: api.environments.qa.manifest.file: `../qa.yaml` must be a path inside the GitOps repository (`apps/qa/api.yaml`), without `..`",
        ),
        (
            "api:\n  image: x/api\n  delivery: gitops\n  gitops: { repo: ../gitops }\n  build: { workflow: build.yml }\n  environments:\n    qa: { manifest: { file: apps/qa/api.yaml, setter: \"flux system\" }, kustomization: flux-system/apps-qa }\n    prod: { manifest: { file: apps/prod/api.yaml, image: \"spec.containers[0].image\" }, kustomization: apps-prod }\n",
            "services.yaml:7:55: api.environments.qa.manifest.setter: `flux system` is not an image policy: `NAMESPACE:POLICY` (the whole image) or `NAMESPACE:POLICY:tag`, as in the marker `# {\"$imagepolicy\": \"flux-system:api\"}`",
        ),
        // stale thresholds
        (
            "api:\n  image: x/api\n  stale: { commits: 0 }\n",
            "services.yaml:3:21: api.stale.commits: `commits` is a whole number from 1 (a threshold of commits)",
        ),
        (
            "api:\n  image: x/api\n  stale: { weeks: 2 }\n",
            "services.yaml:3:12: api.stale.weeks: unknown key; expected one of `commits`, `days`",
        ),
        // push: every environment names the workflow a push starts
        (
            "api:\n  image: x/api\n  delivery: push\n  environments:\n    qa: { workflow: qa.yml }\n",
            "services.yaml:3:13: api.delivery: `delivery: push` follows the workflow a push starts for each environment; name it for prod: `environments: { prod: { workflow: deploy.yml } }` (and `trigger: tag` where a version tag deploys)",
        ),
        (
            "api:\n  image: x/api\n  delivery: push\n  environments:\n    qa: { workflow: qa.yml }\n    prod: { workflow: prod.yml, trigger: tags }\n",
            "services.yaml:6:42: api.environments.prod.trigger: `trigger` is `branch` (a push to the branch deploys here) or `tag` (a pushed version tag does)",
        ),
        (
            "api:\n  image: x/api\n  delivery: dispatch\n  environments:\n    qa: { workflow: deploy-qa.yml }\n    prod: { workflow: deploy-prod.yml }\n",
            "services.yaml:3:13: api.delivery: `delivery: dispatch` needs the workflow that builds the image: add `build: { workflow: build.yml }`",
        ),
        (
            "api:\n  image: x/api\n  delivery: dispatch\n  build: { workflow: build.yml }\n  environments:\n    qa: { workflow: deploy-qa.yml }\n",
            "services.yaml:3:13: api.delivery: `delivery: dispatch` deploys each environment by running its workflow; name it for prod: `environments: { prod: { workflow: deploy-prod.yml, input: image_tag } }`",
        ),
        (
            "api:\n  image: x/api\n  environments:\n    prod: { workflow: deploy.yml }\n",
            "services.yaml:1:1: api.environments.prod.workflow: an environment's `workflow` is for `delivery: dispatch`; with releases, `workflow` names the release workflow at the service level",
        ),
        (
            "api:\n  image: x/api\n  delivery: dispatch\n  build: { workflow: build.yml, cache: true }\n  environments:\n    qa: { workflow: deploy-qa.yml }\n    prod: { workflow: deploy-prod.yml }\n",
            "services.yaml:4:33: api.build.cache: unknown key; expected one of `workflow`",
        ),
    ];
    let mut failures = Vec::new();
    for (yaml, want) in cases {
        let got = errors(yaml);
        if got != [want.to_string()] {
            failures.push(format!("for:\n{yaml}\n want: {want}\n  got: {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn all_errors_are_collected_in_file_order() {
    let got = errors(
        "\
api:
  imagee: x/api
  shippable: maybe
web:
  image: x/web
  environments:
    qa: {namespace: Bad_NS}
hearth:
  ship_all: [nope]
",
    );
    assert_eq!(
        got,
        [
            "services.yaml:2:3: api.imagee: unknown key; did you mean `image`?",
            "services.yaml:3:14: api.shippable: expected true or false, found a string",
            "services.yaml:7:21: web.environments.qa.namespace: `Bad_NS` is not a valid Kubernetes namespace (lowercase letters, digits and `-`, at most 63)",
            "services.yaml:9:14: hearth.ship_all[0]: `nope` names no service in this registry",
        ]
    );
}

#[test]
fn unreadable_file_names_the_file() {
    let err = registry::load(Path::new("/nonexistent/services.yaml")).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("/nonexistent/services.yaml: cannot read the registry:"),
        "{msg}"
    );
}

/// The repository's example registry: valid, and shaped like what the
/// sandbox serves (api, web, worker shippable; docs not).
#[test]
fn example_registry_is_valid_and_matches_the_sandbox() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("services.yaml");
    let reg = registry::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert_eq!(reg.services[0].name, "api");
    for name in ["api", "web", "worker"] {
        let s = reg.service(name).unwrap();
        assert!(s.shippable, "{name}");
        assert_eq!(
            s.image.as_deref(),
            Some(format!("ghcr.io/hearth-demo/{name}").as_str())
        );
        assert_eq!(
            s.repo.as_deref(),
            Some(format!("hearth-demo/{name}").as_str())
        );
        assert_eq!(s.directory, root.join("repos").join(name));
        assert_eq!(s.k8s_name, name);
    }
    let docs = reg.service("docs").unwrap();
    assert!(!docs.shippable);
    assert!(docs.shippable_reason.is_some());
    assert_eq!(reg.settings.github_owner.as_deref(), Some("hearth-demo"));
    assert_eq!(reg.environment_names(), ["prod", "qa"]);
    assert!(!reg.service("api").unwrap().smoke.is_empty());
}

/// The registry `hearth sandbox` writes loads as it is, with every demo
/// service and the paths resolved inside the sandbox folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_registry_loads_as_it_is() {
    let tmp = tempfile::tempdir().unwrap();
    let sb = hearth_sandbox::start(hearth_sandbox::SandboxOptions::new(tmp.path().join("sb")))
        .await
        .expect("sandbox starts");
    let reg = registry::load(&sb.services_path()).expect("sandbox registry loads");
    assert_eq!(
        reg.settings.api_url.as_deref(),
        Some(sb.github_url.as_str())
    );
    assert_eq!(reg.settings.github_owner.as_deref(), Some("hearth-demo"));
    let names: Vec<&str> = reg.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["api", "web", "worker", "billing", "ledger", "relay", "hecate", "docs"]
    );
    // hecate ships the GitOps way: qa's manifest by Flux's setter marker,
    // prod's by a YAML path, each applied by its Kustomization.
    let hecate = reg.service("hecate").unwrap();
    assert_eq!(hecate.delivery, registry::Delivery::Gitops);
    assert_eq!(
        hecate.gitops.as_ref().and_then(|g| g.dir.clone()),
        Some(sb.dir.join("gitops"))
    );
    let qa = hecate.environment("qa").unwrap();
    assert_eq!(
        qa.manifest
            .as_ref()
            .map(|m| (m.file.as_str(), m.at.clone())),
        Some((
            "apps/qa/hecate.yaml",
            registry::ImageAt::Setter("flux-system:hecate-qa".into())
        ))
    );
    assert_eq!(
        hecate.environment("prod").unwrap().kustomization,
        Some(("flux-system".into(), "apps-prod".into()))
    );
    // relay ships on push: dev by a push to main, prod by a version tag.
    let relay = reg.service("relay").unwrap();
    assert_eq!(relay.delivery, registry::Delivery::Push);
    let dev = relay.environment("dev").unwrap();
    assert_eq!(
        (dev.namespace.as_str(), dev.workflow.as_deref(), dev.trigger),
        ("dev", Some("dev.yml"), None)
    );
    let prod = relay.environment("prod").unwrap();
    assert_eq!(prod.trigger, Some(registry::Trigger::Tag));
    assert!(relay.environment("qa").is_none());
    assert_eq!(
        relay.stale,
        Some(registry::Stale {
            commits: Some(3),
            days: Some(14)
        })
    );
    // ledger ships by dispatch: a build workflow, one deploy workflow per
    // environment with its image-tag input.
    let ledger = reg.service("ledger").unwrap();
    assert_eq!(ledger.delivery, registry::Delivery::Dispatch);
    assert_eq!(ledger.build_workflow.as_deref(), Some("build.yml"));
    for (env, wf) in [("qa", "deploy-qa.yml"), ("prod", "deploy-prod.yml")] {
        let e = ledger.environment(env).unwrap();
        assert_eq!(e.workflow.as_deref(), Some(wf));
        assert_eq!(e.input.as_deref(), Some("image_tag"));
    }
    let api = reg.service("api").unwrap();
    assert_eq!(api.directory, sb.dir.join("repos/api"));
    assert_eq!(api.repo.as_deref(), Some("hearth-demo/api"));
    assert_eq!(api.k8s_name, "api");
    assert!(api.shippable);
    let docs = reg.service("docs").unwrap();
    assert!(!docs.shippable && docs.shippable_reason.is_some());
    sb.shutdown().await;
}

/// A dispatch service loads with its build workflow, each environment's
/// workflow and the default input.
#[test]
fn a_dispatch_service_loads_with_its_workflows() {
    let reg = registry::load_str(
        "api:\n  image: ghcr.io/acme/api\n  delivery: dispatch\n  build: { workflow: release-image.yml }\n  environments:\n    qa: { namespace: staging, workflow: deploy-staging.yml, input: image_tag }\n    prod: { workflow: deploy-prod.yml }\n",
        std::path::Path::new("/r/services.yaml"),
        std::path::Path::new("/r"),
    )
    .unwrap();
    let api = reg.service("api").unwrap();
    assert_eq!(api.delivery, registry::Delivery::Dispatch);
    assert_eq!(api.build_workflow.as_deref(), Some("release-image.yml"));
    assert_eq!(api.runs_workflow(), None);
    let qa = api.environment("qa").unwrap();
    assert_eq!(qa.namespace, "staging");
    assert_eq!(qa.workflow.as_deref(), Some("deploy-staging.yml"));
    let prod = api.environment("prod").unwrap();
    assert_eq!(
        prod.input.as_deref(),
        Some("image_tag"),
        "the default input"
    );
    // A registry without the key is the release model, unchanged.
    let plain = registry::load_str(
        "web:\n  image: ghcr.io/acme/web\n",
        std::path::Path::new("/r/services.yaml"),
        std::path::Path::new("/r"),
    )
    .unwrap();
    assert_eq!(plain.services[0].delivery, registry::Delivery::Release);
    assert_eq!(plain.services[0].runs_workflow(), Some("release.yml"));
}

#[test]
fn check_summarises_a_valid_registry() {
    let (dir, _) = load_file(SEED);
    let path = dir.path().join("services.yaml");
    let out = check::check(&path, None).unwrap();
    let first = out.lines().next().unwrap();
    assert!(
        first.ends_with("services.yaml: ok, 2 services (1 shippable), environments prod, qa"),
        "{out}"
    );
    assert!(out.contains("\napi  shippable\n"), "{out}");
    assert!(
        out.contains("\ngeargoblins  not shippable: No Dockerfile in geargoblins.com/ui yet.\n"),
        "{out}"
    );
    assert!(
        out.contains("  image         ghcr.io/katforge/api.katforge.com\n"),
        "{out}"
    );
    assert!(out.contains("  k8s_name      geargoblins\n"), "{out}");
    assert!(
        out.contains("prod  namespace default  context current  release latest"),
        "{out}"
    );
    assert!(
        out.contains("qa    namespace qa       context current  release prerelease"),
        "{out}"
    );
    // --context fills in environments that name none.
    let out = check::check(&path, Some("lab")).unwrap();
    assert!(out.contains("context lab (--context)"), "{out}");
}

#[test]
fn check_reports_errors_without_a_summary() {
    let (dir, _) = load_file("api:\n  image: [unclosed\n");
    let err = check::check(&dir.path().join("services.yaml"), None).unwrap_err();
    assert_eq!(err.problems.len(), 1);
    assert!(matches!(err.problems[0].kind, ProblemKind::Syntax(_)));
}

#[test]
fn error_report_snapshot() {
    let err = parse(
        "\
api:
   directory:    api.katforge.com
   imagee:       ghcr.io/katforge/api.katforge.com
   k8s_name:     api
   environments:
      qa:
         relase: prerelease
      staging:
         release: latest
   smoke:
      - url: not a url
hearth:
   ship_all: [api, geargoblins]
",
    )
    .unwrap_err();
    insta::assert_snapshot!("error_report", err.to_string());
}

#[test]
fn version_endpoints_per_service_and_environment() {
    let reg = parse(
        "api:\n  directory: .\n  image: ghcr.io/acme/api\n  version: https://{env}.acme.test/health\n  environments:\n    prod: { version: { url: \"https://acme.test/api/info\", field: build.version } }\n",
    )
    .unwrap();
    let svc = &reg.services[0];
    let prod = svc.environments.iter().find(|e| e.name == "prod").unwrap();
    let qa = svc.environments.iter().find(|e| e.name == "qa").unwrap();
    // The environment's own endpoint wins; the service's fills the rest,
    // with `{env}` filled in; the field defaults to `version`.
    assert_eq!(
        svc.version_endpoint(prod),
        Some(("https://acme.test/api/info".to_string(), "build.version"))
    );
    assert_eq!(
        svc.version_endpoint(qa),
        Some(("https://qa.acme.test/health".to_string(), "version"))
    );
    // Refused with file:line and a sentence: not a URL, not a field path,
    // no url, an unknown key.
    let bad = errors(
        "api:\n  directory: .\n  image: ghcr.io/acme/api\n  version: ftp://acme.test/v\n  environments:\n    prod: { version: { url: \"https://acme.test/v\", field: \"a..b\" } }\n    qa: { version: { field: version } }\n",
    );
    assert!(
        bad.iter().any(|l| l.contains(
            "services.yaml:4:12: api.version: `ftp://acme.test/v` is not an absolute http(s) URL"
        )),
        "{bad:#?}"
    );
    assert!(
        bad.iter()
            .any(|l| l.contains("services.yaml:6:") && l.contains("`a..b` is not a field path")),
        "{bad:#?}"
    );
    assert!(
        bad.iter()
            .any(|l| l.contains("services.yaml:7:") && l.contains("version") && l.contains("url")),
        "{bad:#?}"
    );
}

/// A stale threshold is crossed by its count or by the age of the oldest
/// commit not running, never with none behind.
#[test]
fn stale_thresholds_count_commits_or_days() {
    let t = registry::Stale {
        commits: Some(3),
        days: Some(7),
    };
    let now = 100 * 86_400;
    assert!(!t.crossed(2, Some(now - 86_400), now));
    assert!(t.crossed(3, Some(now - 86_400), now), "by count");
    assert!(t.crossed(1, Some(now - 7 * 86_400), now), "by age");
    assert!(!t.crossed(0, Some(0), now), "nothing behind is never stale");
    let days_only = registry::Stale {
        commits: None,
        days: Some(7),
    };
    assert!(
        !days_only.crossed(50, None, now),
        "no age known: not by age"
    );
}

/// Seed 001's compose hosts: a dispatch environment may run on a `host`
/// (no namespace), read by its own version endpoint. A host for another
/// model, without an endpoint, with an endpoint that names a namespace, or
/// beside a namespace is refused, located.
#[test]
fn a_dispatch_environment_can_run_on_a_host() {
    let reg = registry::load_str(
        "api:\n  image: ghcr.io/acme/api\n  delivery: dispatch\n  build: { workflow: build.yml }\n  environments:\n    qa: { host: staging.acme.dev, workflow: deploy-staging.yml, version: { url: \"https://staging.acme.dev/api/version\" } }\n    prod: { host: acme.dev, workflow: deploy-prod.yml, version: { url: \"https://{host}/api/version\" } }\n",
        std::path::Path::new("/r/services.yaml"),
        std::path::Path::new("/r"),
    )
    .unwrap();
    let api = reg.service("api").unwrap();
    let prod = api.environment("prod").unwrap();
    assert!(!prod.on_cluster());
    assert_eq!(prod.host.as_deref(), Some("acme.dev"));
    assert_eq!(
        prod.namespace, "",
        "a host replaces the namespace it inherits"
    );
    assert_eq!(
        api.version_endpoint(prod).map(|(u, _)| u),
        Some("https://acme.dev/api/version".to_string())
    );
    assert!(!api.environment("qa").unwrap().on_cluster());

    let cases = [
        (
            "api:\n  image: x/api\n  environments:\n    prod: { host: acme.dev, version: { url: \"https://acme.dev/v\" } }\n",
            "services.yaml:4:19: api.environments.prod.host: an environment on a host is deployed by its own workflow run by hand: use `delivery: dispatch` for api, or name the `namespace` prod runs in",
        ),
        (
            "api:\n  image: x/api\n  delivery: dispatch\n  build: { workflow: build.yml }\n  environments:\n    qa: { workflow: deploy-qa.yml }\n    prod: { host: acme.dev, workflow: deploy-prod.yml }\n",
            "services.yaml:7:19: api.environments.prod.host: hearth reads what a host runs from its version endpoint: add `version: { url: https://HOST/api/version, field: version }` to prod",
        ),
        (
            "api:\n  image: x/api\n  delivery: dispatch\n  build: { workflow: build.yml }\n  version: { url: \"https://x/{namespace}/v\" }\n  environments:\n    qa: { workflow: deploy-qa.yml }\n    prod: { host: acme.dev, workflow: deploy-prod.yml }\n",
            "services.yaml:8:19: api.environments.prod.host: the version URL names `{namespace}`, and prod runs on a host, not in a namespace: give prod its own `version:`",
        ),
        (
            "api:\n  image: x/api\n  delivery: dispatch\n  build: { workflow: build.yml }\n  environments:\n    qa: { workflow: deploy-qa.yml }\n    prod: { host: acme.dev, namespace: web, workflow: deploy-prod.yml, version: { url: \"https://acme.dev/v\" } }\n",
            "services.yaml:7:5: api.environments.prod: an environment runs either in a Kubernetes `namespace` or on a `host`, not both",
        ),
        (
            "api:\n  image: x/api\n  delivery: dispatch\n  build: { workflow: build.yml }\n  environments:\n    qa: { workflow: deploy-qa.yml }\n    prod: { host: \"acme dev\", workflow: deploy-prod.yml }\n",
            "services.yaml:7:19: api.environments.prod.host: `acme dev` is not a host name (letters, digits, `-` and `.`, at most 253)",
        ),
    ];
    let mut failures = Vec::new();
    for (yaml, want) in cases {
        let got = errors(yaml);
        if got != [want.to_string()] {
            failures.push(format!("for:\n{yaml}\n want: {want}\n  got: {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
