//! Version endpoints: each environment's `version:` URL is read now and then
//! and what it reports is sent as an [`Event`], beside what the cluster
//! serves, so that a public endpoint still answering with the old version
//! (DNS on the old cluster, a stale cache) shows. Read with plain GETs,
//! no credentials, one at a time: with `n` endpoints, one request every
//! `PERIOD / n` (at least 200 ms apart), so each is read about every
//! `PERIOD` and a registry of hundreds costs a few requests a second at most.
//! Only changes are sent.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::model::endpoint::reported_version;
use crate::model::EndpointReading;
use crate::registry::Registry;

/// How often each endpoint is read.
pub const PERIOD: Duration = Duration::from_secs(30);

/// What the version reader reports.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub service: String,
    pub env: String,
    pub reading: EndpointReading,
}

/// One endpoint to read.
#[derive(Clone, Debug)]
struct Target {
    service: String,
    env: String,
    url: String,
    field: String,
}

/// Every (service, environment) of `registry` with a version endpoint.
fn targets(registry: &Registry) -> Vec<Target> {
    registry
        .services
        .iter()
        .flat_map(|s| {
            s.environments.iter().filter_map(move |e| {
                let (url, field) = s.version_endpoint(e)?;
                Some(Target {
                    service: s.name.clone(),
                    env: e.name.clone(),
                    url,
                    field: field.to_string(),
                })
            })
        })
        .collect()
}

/// Read `url` once: the version it reports, or why there is none.
pub async fn read(http: &reqwest::Client, url: &str, field: &str) -> EndpointReading {
    let reported = match http.get(url).timeout(Duration::from_secs(5)).send().await {
        Err(e) => Err(format!("no answer: {}", crate::ops::smoke::root(&e))),
        Ok(resp) if !resp.status().is_success() => {
            Err(format!("answered {}", resp.status().as_u16()))
        }
        Ok(resp) => match resp.text().await {
            Ok(body) => reported_version(&body, field)
                .ok_or_else(|| format!("answered without a `{field}`")),
            Err(e) => Err(format!("no answer: {}", crate::ops::smoke::root(&e))),
        },
    };
    EndpointReading {
        url: crate::model::text::line(url).into_owned(),
        reported: reported.map_err(|e| crate::model::text::line(&e).into_owned()),
    }
}

/// Start reading the version endpoints of `registry`; `None` when it names
/// none. Must be called inside a tokio runtime.
pub fn spawn(registry: &Registry, tx: mpsc::Sender<Event>) -> Option<JoinHandle<()>> {
    let targets = targets(registry);
    if targets.is_empty() {
        return None;
    }
    Some(tokio::spawn(async move {
        let http = reqwest::Client::new();
        let gap = (PERIOD / targets.len() as u32).max(Duration::from_millis(200));
        let mut last: HashMap<(String, String), EndpointReading> = HashMap::new();
        // The first pass quickly, so that the first screen is complete.
        let mut pause = Duration::from_millis(20);
        loop {
            for t in &targets {
                let reading = read(&http, &t.url, &t.field).await;
                let key = (t.service.clone(), t.env.clone());
                if last.get(&key) != Some(&reading) {
                    last.insert(key, reading.clone());
                    let event = Event {
                        service: t.service.clone(),
                        env: t.env.clone(),
                        reading,
                    };
                    if tx.send(event).await.is_err() {
                        return;
                    }
                }
                tokio::time::sleep(pause).await;
            }
            pause = gap;
        }
    }))
}
