//! A workflow file as GitHub will run it at a ref: read through the
//! contents API at that ref, else (no token, a commit not pushed yet,
//! GitHub down) from the local checkout at the same ref. Every model reads
//! a workflow through here; what its `on:` means is decided, purely, by
//! [`super::mechanism`].

use base64::Engine as _;

use super::Context;
use crate::registry::Service;

/// The text of `.github/workflows/{file}` of `service` at `git_ref`, or
/// `None` when neither GitHub nor the local checkout has it.
pub async fn text(ctx: &Context, service: &Service, file: &str, git_ref: &str) -> Option<String> {
    let path = format!(".github/workflows/{file}");
    if let (Ok(client), Ok(repo)) = (ctx.github(), ctx.repo(service)) {
        let from_github = client
            .get_json(&format!("/repos/{repo}/contents/{path}?ref={git_ref}"))
            .await
            .ok()
            .and_then(|v| decode(v.get("content")?.as_str()?));
        if from_github.is_some() {
            return from_github;
        }
    }
    super::git::run(&service.directory, &["show", &format!("{git_ref}:{path}")])
        .await
        .ok()
}

/// The contents API's `content`: standard base64, wrapped in lines.
fn decode(content: &str) -> Option<String> {
    let b64: String = content.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_are_decoded_across_line_breaks() {
        assert_eq!(
            decode("b246IHdv\ncmtmbG93X2Rpc3BhdGNo\n").as_deref(),
            Some("on: workflow_dispatch")
        );
        assert_eq!(decode("not base64!"), None);
    }
}
