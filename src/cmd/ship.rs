//! `hearth ship [SERVICE...]`: ship one service, several, or (with none
//! named) the registry's `ship_all` list, skipping services that are not
//! shippable with their reason.

use std::process::ExitCode;

use crate::cli::{GlobalOpts, ShipArgs};
use crate::ops::{Bump, Request, ShipRequest, Target};

/// Run `hearth ship`.
pub fn run(global: &GlobalOpts, args: &ShipArgs) -> anyhow::Result<ExitCode> {
    let registry = super::load_registry(global)?;
    let target = if args.qa {
        Target::Qa
    } else if args.draft {
        Target::Draft
    } else {
        Target::Prod
    };
    let bump = if args.major {
        Bump::Major
    } else if args.minor {
        Bump::Minor
    } else {
        Bump::Patch
    };
    let request = |service: &str| {
        // A dispatch-delivered service ships to qa unless prod is asked for.
        let qa_first = registry
            .service(service)
            .is_some_and(|s| s.delivery.ships_to_qa_by_default());
        let target = if qa_first && target == Target::Prod && !args.prod {
            Target::Qa
        } else {
            target
        };
        Request::Ship(ShipRequest {
            service: service.to_string(),
            target,
            bump,
            skip_tests: args.skip_tests,
            no_version: args.no_version,
            watch: !args.op.no_watch,
        })
    };
    let mut skipped = Vec::new();
    let reqs: Vec<Request> = if args.service.is_empty() {
        let all: Vec<String> = registry.ship_all().iter().map(|s| s.name.clone()).collect();
        for s in &registry.services {
            if !all.contains(&s.name) {
                let why = if s.shippable {
                    "not in hearth.ship_all".to_string()
                } else {
                    s.shippable_reason
                        .clone()
                        .unwrap_or_else(|| "shippable: false".into())
                };
                skipped.push((s.name.clone(), why));
            }
        }
        all.iter().map(|s| request(s)).collect()
    } else {
        args.service.iter().map(|s| request(s)).collect()
    };
    super::operation::run_requests_with(global, &args.op, reqs, skipped)
}
