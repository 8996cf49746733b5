//! The secrets hearth holds while it runs (the GitHub token, the registry
//! token `setup --ci` stores, a ServiceAccount token it read), and the one
//! redaction every text that leaves an operation goes through: progress
//! events, the command log, the journal, the CLI's lines and tables. Cheap
//! to clone (shared); a secret added by one task is redacted by all.

use std::sync::{Arc, RwLock};

/// What a redacted secret reads as.
pub const MASK: &str = "***";

/// Secrets shorter than this are not registered: replacing every `ab` in
/// every line would make text unreadable and protect nothing real.
const MIN_LEN: usize = 8;

/// The secrets to scrub, shared by every clone.
#[derive(Clone, Debug, Default)]
pub struct Secrets(Arc<RwLock<Vec<String>>>);

impl Secrets {
    /// Remember `secret` (and its lines, for a multi-line one): from now on
    /// it is redacted everywhere.
    pub fn add(&self, secret: &str) {
        let mut list = self.0.write().unwrap_or_else(|e| e.into_inner());
        for s in std::iter::once(secret.trim()).chain(secret.lines().map(str::trim)) {
            if s.len() >= MIN_LEN && !list.iter().any(|k| k == s) {
                list.push(s.to_string());
            }
        }
        // Longest first, so a secret holding another is masked whole.
        list.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// `text` with every secret replaced by [`MASK`], and the password of
    /// any URL with credentials (`https://user:pass@host`) as well: a git
    /// remote can hold a token hearth never saw.
    pub fn redact(&self, text: &str) -> String {
        let list = self.0.read().unwrap_or_else(|e| e.into_inner());
        let mut out = text.to_string();
        for s in list.iter() {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), MASK);
            }
        }
        url_passwords(&out)
    }

    /// How many secrets are held (for tests).
    pub fn len(&self) -> usize {
        self.0.read().map(|l| l.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `scheme://user:password@` → `scheme://user:***@`.
fn url_passwords(text: &str) -> String {
    if !text.contains("://") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // The authority ends at the first `/`, whitespace or quote.
        let end = tail
            .find(|c: char| c == '/' || c.is_whitespace() || c == '"' || c == '\'')
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.split_once(':') {
                    Some((user, _)) => {
                        out.push_str(user);
                        out.push(':');
                        out.push_str(MASK);
                    }
                    // A bare token as the user (`https://TOKEN@host`).
                    None if userinfo.len() >= 20 => out.push_str(MASK),
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_added_anywhere_are_redacted_everywhere() {
        let a = Secrets::default();
        let b = a.clone();
        // Test values that look like no real credential.
        b.add("test-secret-0123456789");
        b.add("short");
        assert_eq!(a.len(), 1, "short strings are not secrets");
        assert_eq!(
            a.redact("token test-secret-0123456789 in a line"),
            "token *** in a line"
        );
        a.add("line-one-secret\nline-two-secret");
        assert_eq!(a.redact("x line-two-secret y"), "x *** y");
    }

    #[test]
    fn url_credentials_are_masked() {
        let s = Secrets::default();
        assert_eq!(
            s.redact("fatal: https://x-access-token:gho_abc@github.com/o/r.git not found"),
            "fatal: https://x-access-token:***@github.com/o/r.git not found"
        );
        assert_eq!(
            s.redact("https://not-a-real-token-value@github.com/o/r"),
            "https://***@github.com/o/r"
        );
        assert_eq!(
            s.redact("see https://github.com/o/r and git@github.com:o/r"),
            "see https://github.com/o/r and git@github.com:o/r"
        );
    }
}
