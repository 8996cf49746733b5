//! `hearth restart SERVICE [--env E]`: a rollout restart, followed to
//! completion, then the smoke checks.

use std::process::ExitCode;

use crate::cli::{GlobalOpts, RestartArgs};
use crate::ops::{Request, RestartRequest};

/// Run `hearth restart`.
pub fn run(global: &GlobalOpts, args: &RestartArgs) -> anyhow::Result<ExitCode> {
    let req = Request::Restart(RestartRequest {
        service: args.service.clone(),
        env: args.env.clone(),
        watch: !args.op.no_watch,
    });
    super::operation::run_requests(global, &args.op, vec![req])
}
