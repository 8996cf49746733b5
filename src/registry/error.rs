//! Registry errors: every problem found in a services.yaml, each with the file,
//! line, column and key path it is about. Built by `registry::load`; printed by
//! `hearth check` and by every mode that fails to start on a bad registry.

use std::fmt;
use std::path::PathBuf;

pub use super::tree::Pos;

/// Why a registry could not be loaded. Holds every problem found (not just
/// the first), in file order. `Display` is the user-facing message: one line
/// per problem, `services.yaml:3:4: api.imagee: unknown key; did you mean `image`?`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryError {
    /// The registry file as the user named it.
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

impl std::error::Error for RegistryError {}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}", self.file.display())?;
            if let Some(pos) = p.pos {
                write!(f, ":{}:{}", pos.line, pos.col)?;
            }
            if !p.path.is_empty() {
                write!(f, ": {}", p.path)?;
            }
            write!(f, ": {}", p.kind)?;
        }
        Ok(())
    }
}

/// One thing wrong with a registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Where in the file (`None` when the file could not be read at all).
    pub pos: Option<Pos>,
    /// Key path, dotted, with list indices: `api.environments.qa.namespace`,
    /// `hearth.ship_all[1]`. Empty for the document as a whole.
    pub path: String,
    pub kind: ProblemKind,
}

/// What is wrong. `Display` is the message after the key path.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProblemKind {
    #[error("cannot read the registry: {0}")]
    Io(String),
    #[error("invalid YAML: {0}")]
    Syntax(String),
    #[error("{}", unknown_key_message(suggestion, expected))]
    UnknownKey {
        /// The nearest valid key, when one is close enough.
        suggestion: Option<String>,
        /// Every key valid at that place.
        expected: Vec<&'static str>,
    },
    #[error("expected {expected}, found {found}")]
    WrongType {
        expected: &'static str,
        found: &'static str,
    },
    #[error("duplicate key (first given on line {first_line})")]
    DuplicateKey { first_line: usize },
    #[error("shippable service has no `image`; add `image: <registry>/<name>`, or set `shippable: false` and a `shippable_reason`")]
    MissingImage,
    #[error("missing `{key}`{hint}")]
    MissingKey { key: &'static str, hint: String },
    #[error("unknown release kind `{0}`; expected `latest` (prod) or `prerelease` (qa)")]
    BadReleaseKind(String),
    #[error(
        "`{name}` names no service in this registry{}",
        did_you_mean(suggestion)
    )]
    UnknownService {
        name: String,
        suggestion: Option<String>,
    },
    #[error("`{0}` is not shippable (`shippable: false`), so it cannot be in `ship_all`")]
    NotShippable(String),
    /// A value of the right type that is still not acceptable; the text says why.
    #[error("{0}")]
    Invalid(String),
    #[error("the registry defines no services; expected a map of service name → settings (see docs/services-yaml.md)")]
    NoServices,
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!("; did you mean `{s}`?"),
        None => String::new(),
    }
}

fn unknown_key_message(suggestion: &Option<String>, expected: &[&'static str]) -> String {
    match suggestion {
        Some(s) => format!("unknown key; did you mean `{s}`?"),
        None => {
            let list: Vec<String> = expected.iter().map(|k| format!("`{k}`")).collect();
            format!("unknown key; expected one of {}", list.join(", "))
        }
    }
}

/// The candidate nearest to `word`, if it is plausibly what was meant: a small
/// edit distance, a high similarity, or `word` being a prefix (`dir`).
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let lower = word.to_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = strsim::damerau_levenshtein(&lower, c);
        let close = d <= 2
            || strsim::normalized_damerau_levenshtein(&lower, c) >= 0.6
            || (lower.len() >= 3 && c.starts_with(&lower));
        if close && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_keys_only() {
        let keys = ["directory", "image", "k8s_name", "pre_ship_cmd"];
        assert_eq!(suggest("imagee", keys).as_deref(), Some("image"));
        assert_eq!(suggest("Image", keys).as_deref(), Some("image"));
        assert_eq!(suggest("dir", keys).as_deref(), Some("directory"));
        assert_eq!(suggest("k8sname", keys).as_deref(), Some("k8s_name"));
        assert_eq!(suggest("pre_ship", keys).as_deref(), Some("pre_ship_cmd"));
        assert_eq!(suggest("colour", keys), None);
    }

    #[test]
    fn display_names_file_line_col_and_path() {
        let err = RegistryError {
            file: "services.yaml".into(),
            problems: vec![Problem {
                pos: Some(Pos { line: 3, col: 4 }),
                path: "api.imagee".into(),
                kind: ProblemKind::UnknownKey {
                    suggestion: Some("image".into()),
                    expected: vec!["image"],
                },
            }],
        };
        assert_eq!(
            err.to_string(),
            "services.yaml:3:4: api.imagee: unknown key; did you mean `image`?"
        );
    }
}
