//! `hearth rollback SERVICE [--env E] [--to-revision N] [--clean]`.

use std::process::ExitCode;

use crate::cli::{GlobalOpts, RollbackArgs};
use crate::ops::{Request, RollbackKind, RollbackRequest};

/// Run `hearth rollback`.
pub fn run(global: &GlobalOpts, args: &RollbackArgs) -> anyhow::Result<ExitCode> {
    let req = Request::Rollback(RollbackRequest {
        service: args.service.clone(),
        env: args.env.clone(),
        kind: if args.clean {
            RollbackKind::Clean
        } else {
            RollbackKind::Fast
        },
        to_revision: args.to_revision,
        watch: !args.op.no_watch,
    });
    super::operation::run_requests(global, &args.op, vec![req])
}
