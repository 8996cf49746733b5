//! Problems: what went wrong reading or changing something, typed by kind so
//! that the UI, `hearth status` and the operations decide by kind (never by
//! matching words in a message), with the message a user reads and the hint
//! that says what to do. Built by the clients (`cluster`, `github`, `ops`);
//! plain data.

use std::fmt;

use serde::Serialize;

/// What kind of problem it is. The same kinds serve Kubernetes, GitHub and
/// git, so a forbidden namespace and a token without rights look alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// 403 that is not a rate limit: the credentials lack a permission.
    Forbidden,
    /// 401 or failed authentication: the credentials were rejected.
    Unauthorized,
    /// No answer at all: connection refused, DNS, TLS, VPN.
    Unreachable,
    /// The server took too long.
    Timeout,
    /// The kubeconfig or context cannot be loaded.
    NoConfig,
    /// No GitHub token was found.
    NoToken,
    /// 404, or a thing that should exist does not.
    NotFound,
    /// 409: someone else changed it first.
    Conflict,
    /// 422 or a refused request: the input is not acceptable as it is.
    Invalid,
    /// The GitHub rate limit (primary or secondary) is exhausted.
    RateLimited,
    /// 5xx or another unexpected status.
    Server,
    /// An answer that is not what the API promises.
    Malformed,
    /// A local command (git, the pre-ship tests) failed.
    Local,
    /// Anything else.
    Other,
}

impl ProblemKind {
    /// One or two words for a narrow cell ("forbidden", "unreachable").
    pub fn word(self) -> &'static str {
        match self {
            ProblemKind::Forbidden => "forbidden",
            ProblemKind::Unauthorized => "auth failed",
            ProblemKind::Unreachable => "unreachable",
            ProblemKind::Timeout => "timed out",
            ProblemKind::NoConfig => "no config",
            ProblemKind::NoToken => "no token",
            ProblemKind::NotFound => "not found",
            ProblemKind::Conflict => "conflict",
            ProblemKind::Invalid => "invalid",
            ProblemKind::RateLimited => "rate limited",
            ProblemKind::Server => "error",
            ProblemKind::Malformed => "bad answer",
            ProblemKind::Local => "failed",
            ProblemKind::Other => "error",
        }
    }
}

/// A problem: its kind, what happened, and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    /// What happened, in one sentence without a final period.
    pub message: String,
    /// What to do about it; empty when there is nothing to suggest.
    pub hint: String,
}

impl Problem {
    pub fn new(kind: ProblemKind, message: impl Into<String>, hint: impl Into<String>) -> Problem {
        Problem {
            kind,
            message: message.into(),
            hint: hint.into(),
        }
    }
}

impl Problem {
    /// The same problem with its words made inert ([`super::text::line`]):
    /// for problems that quote a server's or a command's text.
    pub fn inert(self) -> Problem {
        Problem {
            kind: self.kind,
            message: super::text::own_line(self.message),
            hint: super::text::own_line(self.hint),
        }
    }
}

impl fmt::Display for Problem {
    /// `message — hint`, or the message alone when there is no hint.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.hint.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{} — {}", self.message, self.hint)
        }
    }
}

impl std::error::Error for Problem {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_joins_message_and_hint() {
        let p = Problem::new(ProblemKind::NoToken, "no token", "set GH_TOKEN");
        assert_eq!(p.to_string(), "no token — set GH_TOKEN");
        let bare = Problem::new(ProblemKind::Other, "boom", "");
        assert_eq!(bare.to_string(), "boom");
        assert_eq!(ProblemKind::Unauthorized.word(), "auth failed");
    }
}
