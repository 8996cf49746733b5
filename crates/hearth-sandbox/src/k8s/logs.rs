//! Pod logs, generated lazily from each pod's clock so that thousands of
//! idle pods cost nothing: line `i` of a container is a pure function of the
//! pod and `i`, written at a fixed pace after the container started. Used by
//! the `pods/{name}/log` handler (one-shot and `follow`).

use chrono::{DateTime, Utc};

use super::pods::{pod_tag, PodClock, INITIALIZING, MIGRATE, PENDING, STARTING};

/// Simulated seconds between two application log lines.
const APP_INTERVAL: f64 = 1.5;

const PATHS: [&str; 6] = [
    "/api/items",
    "/api/ready",
    "/api/orders",
    "/api/users/me",
    "/healthz",
    "/api/search?q=lamp",
];

/// Wall-clock seconds between two application log lines at `speed`.
pub(crate) fn interval(speed: f64) -> f64 {
    (APP_INTERVAL / speed).max(0.05)
}

/// One generated log line with its time.
pub(crate) struct Line {
    /// Position in the container's whole log.
    pub index: usize,
    pub time: DateTime<Utc>,
    pub text: String,
}

fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x
}

fn seed_of(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// Lines of `container` written up to `now`, starting at index `from`.
pub(crate) fn lines(
    pod: &str,
    clock: &PodClock,
    container: &str,
    speed: f64,
    from: usize,
    now: DateTime<Utc>,
) -> Vec<Line> {
    let at =
        |sim: f64| clock.created + chrono::Duration::milliseconds((sim / speed * 1000.0) as i64);
    let tag = pod_tag(clock);
    let mut out = Vec::new();
    let init = clock.init.as_ref().map(|(n, _)| n.as_str());
    if Some(container) == init {
        let script: Vec<String> = if clock.migrate_fails {
            vec![
                format!("migrate {tag}: connecting to database"),
                "migrate: applying 0041_add_orders_index ... ok".into(),
                "migrate: applying 0042_backfill_customer_ids ... ".into(),
                "ERROR: relation \"customer_ids\" already exists (SQLSTATE 42P07)".into(),
                "migrate: migration 0042_backfill_customer_ids failed, exit status 1".into(),
            ]
        } else {
            vec![
                format!("migrate {tag}: connecting to database"),
                "migrate: applying 0041_add_orders_index ... ok".into(),
                "migrate: applying 0042_backfill_customer_ids ... ok".into(),
                "migrate: schema up to date".into(),
            ]
        };
        for (i, text) in script.into_iter().enumerate().skip(from) {
            let time = at(PENDING + 0.3 * i as f64);
            if time > now {
                break;
            }
            out.push(Line {
                index: i,
                time,
                text,
            });
        }
        return out;
    }
    let app_start = if init.is_some() {
        PENDING + MIGRATE + INITIALIZING + STARTING
    } else {
        PENDING + STARTING
    };
    let start = at(app_start);
    if now < start || clock.migrate_fails {
        return out;
    }
    let step_ms = (interval(speed) * 1000.0) as i64;
    let written = ((now - start).num_milliseconds() / step_ms + 1) as usize;
    // Seeded pods have run for hours: begin their story at `log_from`.
    let first = if clock.log_from > start {
        ((clock.log_from - start).num_milliseconds() / step_ms) as usize
    } else {
        0
    };
    let seed = seed_of(pod);
    for i in from.max(first)..written {
        let time = start + chrono::Duration::milliseconds(step_ms * i as i64);
        let text = match i {
            0 => format!("starting {} {tag} on :8080", clock.app),
            1 => "connected to database (pool size 10)".to_string(),
            2 => format!("{} {tag} ready", clock.app),
            _ => {
                let r = mix(seed ^ i as u64);
                let path = PATHS[(r % PATHS.len() as u64) as usize];
                let method = if r.is_multiple_of(7) { "POST" } else { "GET" };
                let status = match r % 50 {
                    0 => 500,
                    1..=3 => 404,
                    4 => 401,
                    _ => 200,
                };
                let ms = 2 + (r >> 8) % 180;
                let level = if status >= 500 { "ERROR" } else { "INFO " };
                format!(
                    "{level} {} {tag} {method} {path} {status} {ms}ms",
                    clock.app
                )
            }
        };
        out.push(Line {
            index: i,
            time,
            text,
        });
    }
    out
}
