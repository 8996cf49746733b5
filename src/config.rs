//! Resolved settings: where the cluster and GitHub are and how to reach them.
//! The command layer builds a [`Config`] from the command line, the
//! environment and the registry; everything below it receives the plain
//! values and reads no environment variable of its own.

use crate::{cluster, github};

/// Everything a mode needs to reach the outside world.
#[derive(Clone, Debug)]
pub struct Config {
    pub kube: cluster::Settings,
    pub github: github::Settings,
}
