//! `hearth promote SERVICE [TAG]`: a qa prerelease becomes the latest
//! release; the same image deploys to prod.

use std::process::ExitCode;

use crate::cli::{GlobalOpts, PromoteArgs};
use crate::ops::{PromoteRequest, Request};

/// Run `hearth promote`.
pub fn run(global: &GlobalOpts, args: &PromoteArgs) -> anyhow::Result<ExitCode> {
    let req = Request::Promote(PromoteRequest {
        service: args.service.clone(),
        tag: args.tag.clone(),
        watch: !args.op.no_watch,
    });
    super::operation::run_requests(global, &args.op, vec![req])
}
