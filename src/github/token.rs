//! The GitHub token: read from `GH_TOKEN` / `GITHUB_TOKEN`, else from
//! `gh auth token` when the GitHub CLI is installed. Called once at start-up
//! by whichever mode needs GitHub. The token is kept in a type whose `Debug`
//! and `Display` never show it, and [`Token::redact`] scrubs it from any text
//! that leaves the GitHub source.

use std::fmt;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A GitHub token. Only [`Token::expose`] reveals it, for the HTTP client.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    secret: String,
    /// Where it came from ("GH_TOKEN", "GITHUB_TOKEN", "gh auth token").
    pub origin: &'static str,
}

impl Token {
    pub fn new(secret: impl Into<String>, origin: &'static str) -> Token {
        Token {
            secret: secret.into(),
            origin,
        }
    }

    /// The secret itself; pass it to the HTTP client and nowhere else.
    pub fn expose(&self) -> &str {
        &self.secret
    }

    /// `text` with every occurrence of the token replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        if self.secret.is_empty() {
            text.to_string()
        } else {
            text.replace(&self.secret, "***")
        }
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token(*** from {})", self.origin)
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "*** (from {})", self.origin)
    }
}

/// The message shown when no token is found.
pub const NO_TOKEN: &str = "no token: set GH_TOKEN or run gh auth login";

/// Find a token: `GH_TOKEN`, `GITHUB_TOKEN`, then `gh auth token`.
pub fn discover() -> Option<Token> {
    for var in ["GH_TOKEN", "GITHUB_TOKEN"] {
        if let Ok(v) = std::env::var(var) {
            let v = v.trim();
            if !v.is_empty() {
                let origin = if var == "GH_TOKEN" {
                    "GH_TOKEN"
                } else {
                    "GITHUB_TOKEN"
                };
                return Some(Token::new(v, origin));
            }
        }
    }
    from_gh_cli()
}

/// `gh auth token`, when `gh` is on PATH and logged in; bounded to 5 s so a
/// wedged keyring cannot hang start-up.
fn from_gh_cli() -> Option<Token> {
    let mut child = Command::new("gh")
        .args(["auth", "token"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break,
            Ok(Some(_)) | Err(_) => return None,
            Ok(None) if std::time::Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let out = child.wait_with_output().ok()?;
    let t = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!t.is_empty()).then(|| Token::new(t, "gh auth token"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_secret() {
        let t = Token::new("test-token-secret123", "GH_TOKEN");
        assert!(!format!("{t:?}").contains("test-token-secret123"));
        assert!(!format!("{t}").contains("test-token-secret123"));
        assert_eq!(t.redact("bad test-token-secret123 x"), "bad *** x");
    }
}
