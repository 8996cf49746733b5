//! `hearth approve SERVICE [--env E] [--reject] [--comment TEXT]`: review a
//! run that waits on a GitHub Environment's required reviewers.

use std::process::ExitCode;

use crate::cli::{ApproveArgs, GlobalOpts};
use crate::ops::{ApproveRequest, Request};

/// Run `hearth approve`.
pub fn run(global: &GlobalOpts, args: &ApproveArgs) -> anyhow::Result<ExitCode> {
    let req = Request::Approve(ApproveRequest {
        service: args.service.clone(),
        env: args.env.clone(),
        reject: args.reject,
        comment: args.comment.clone(),
    });
    super::operation::run_requests(global, &args.op, vec![req])
}
