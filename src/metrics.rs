//! Metrics in the Prometheus text format, served on a listener of their own
//! (`--metrics-addr`, off by default) so that they never share the API's
//! port, its limits or its exposure.
//!
//! What is counted, and where:
//! - requests by route pattern, method and status, and a latency histogram
//!   per route (`server::serve` calls [`record_request`]);
//! - requests in flight (the same place) and open connections (the
//!   poller's table, read through `http::poller::Handoff`);
//! - writes per commit on SQLite (`store::sqlite::writer` calls
//!   [`record_commit`]);
//! - password hashes waiting for a permit (`credentials::Passwords`);
//! - database errors, by kind (`error.rs`, where every store failure that
//!   reaches a client becomes a status).
//!
//! The counters are process-wide statics: every part of the server can
//! count without a handle threaded through it, and one process serves one
//! API. (Tests that run several servers in one process read differences.)

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::Duration;

/// Upper bounds of the latency histogram's buckets, in seconds: from a
/// cached read (well under a millisecond) to the slowest a request may
/// take before clients give up.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Upper bounds of the writes-per-commit histogram: one up to the writer's
/// largest batch (64).
const BATCH_BUCKETS: [u64; 7] = [1, 2, 4, 8, 16, 32, 64];

/// One route's latency histogram.
#[derive(Default)]
struct Latency {
    /// Counts per bucket (not cumulative; summed when written).
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Requests {
    /// (route, method, status) -> answered. Every key is a static string,
    /// so counting a request allocates nothing once its series exists.
    answered: BTreeMap<(&'static str, &'static str, u16), u64>,
    /// (route, method) -> latency.
    latency: BTreeMap<(&'static str, &'static str), Latency>,
}

static REQUESTS: Mutex<Requests> = Mutex::new(Requests {
    answered: BTreeMap::new(),
    latency: BTreeMap::new(),
});
static IN_FLIGHT: AtomicI64 = AtomicI64::new(0);
static COMMITS: Mutex<([u64; BATCH_BUCKETS.len()], u64, u64)> =
    Mutex::new(([0; BATCH_BUCKETS.len()], 0, 0));
static HASHES_WAITING: AtomicI64 = AtomicI64::new(0);
static DATABASE_UNAVAILABLE: AtomicU64 = AtomicU64::new(0);
static DATABASE_FAILED: AtomicU64 = AtomicU64::new(0);

/// The route label of a request no route matched.
pub const UNMATCHED: &str = "unmatched";

/// Counts a request as running until the guard is dropped.
pub struct InFlight(());

impl InFlight {
    pub fn start() -> InFlight {
        IN_FLIGHT.fetch_add(1, Ordering::Relaxed);
        InFlight(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The methods counted under their own name; any other a client invents is
/// "other", so that no client can grow the table without bound.
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Counts one answered request.
pub fn record_request(route: Option<&'static str>, method: &str, status: u16, seconds: f64) {
    let route = route.unwrap_or(UNMATCHED);
    let method = METHODS
        .iter()
        .find(|known| **known == method)
        .copied()
        .unwrap_or("other");
    let mut requests = REQUESTS.lock().unwrap_or_else(PoisonError::into_inner);
    *requests
        .answered
        .entry((route, method, status))
        .or_default() += 1;
    let latency = requests.latency.entry((route, method)).or_default();
    if let Some(bucket) = LATENCY_BUCKETS.iter().position(|bound| seconds <= *bound) {
        latency.buckets[bucket] += 1;
    }
    latency.count += 1;
    latency.sum += seconds;
}

/// Counts one SQLite commit of `writes` writes.
pub fn record_commit(writes: usize) {
    let writes = writes as u64;
    let mut commits = COMMITS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(bucket) = BATCH_BUCKETS.iter().position(|bound| writes <= *bound) {
        commits.0[bucket] += 1;
    }
    commits.1 += 1;
    commits.2 += writes;
}

/// Counts a password hash waiting for a permit until the guard is dropped.
pub struct HashWaiting(());

impl HashWaiting {
    pub fn start() -> HashWaiting {
        HASHES_WAITING.fetch_add(1, Ordering::Relaxed);
        HashWaiting(())
    }
}

impl Drop for HashWaiting {
    fn drop(&mut self) {
        HASHES_WAITING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts a database failure a client was answered for: `unavailable` (a
/// 503: the database unreachable, a full disk) or not (a 500).
pub fn record_database_error(unavailable: bool) {
    let counter = if unavailable {
        &DATABASE_UNAVAILABLE
    } else {
        &DATABASE_FAILED
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The whole exposition, in the text format (version 0.0.4), given the
/// poller's count of open connections.
pub fn render(open_connections: usize) -> String {
    let mut out = String::with_capacity(4096);
    let requests = REQUESTS.lock().unwrap_or_else(PoisonError::into_inner);
    header(
        &mut out,
        "taskapi_requests_total",
        "counter",
        "Requests answered, by route pattern, method and status.",
    );
    for ((route, method, status), count) in &requests.answered {
        let _ = writeln!(
            out,
            "taskapi_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {count}"
        );
    }
    header(
        &mut out,
        "taskapi_request_duration_seconds",
        "histogram",
        "Time from a request's arrival in full to its answer, by route pattern and method.",
    );
    for ((route, method), latency) in &requests.latency {
        let labels = format!("route=\"{route}\",method=\"{method}\"");
        let mut cumulative = 0;
        for (bound, count) in LATENCY_BUCKETS.iter().zip(latency.buckets) {
            cumulative += count;
            let _ = writeln!(
                out,
                "taskapi_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "taskapi_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}\n\
             taskapi_request_duration_seconds_sum{{{labels}}} {}\n\
             taskapi_request_duration_seconds_count{{{labels}}} {}",
            latency.count, latency.sum, latency.count
        );
    }
    drop(requests);

    gauge(
        &mut out,
        "taskapi_open_connections",
        "Client connections open now, idle ones included.",
        open_connections as i64,
    );
    gauge(
        &mut out,
        "taskapi_requests_in_flight",
        "Requests being answered by a worker now.",
        IN_FLIGHT.load(Ordering::Relaxed),
    );
    gauge(
        &mut out,
        "taskapi_password_hashes_waiting",
        "Password checks waiting for one of the argon2 permits.",
        HASHES_WAITING.load(Ordering::Relaxed),
    );

    let commits = COMMITS.lock().unwrap_or_else(PoisonError::into_inner);
    header(
        &mut out,
        "taskapi_writes_per_commit",
        "histogram",
        "Writes that shared one SQLite commit (group commit); none on PostgreSQL.",
    );
    let mut cumulative = 0;
    for (bound, count) in BATCH_BUCKETS.iter().zip(commits.0) {
        cumulative += count;
        let _ = writeln!(
            out,
            "taskapi_writes_per_commit_bucket{{le=\"{bound}\"}} {cumulative}"
        );
    }
    let _ = writeln!(
        out,
        "taskapi_writes_per_commit_bucket{{le=\"+Inf\"}} {}\n\
         taskapi_writes_per_commit_sum {}\n\
         taskapi_writes_per_commit_count {}",
        commits.1, commits.2, commits.1
    );
    drop(commits);

    header(
        &mut out,
        "taskapi_database_errors_total",
        "counter",
        "Requests answered with a database failure: unavailable (503) or failed (500).",
    );
    for (kind, counter) in [
        ("unavailable", &DATABASE_UNAVAILABLE),
        ("failed", &DATABASE_FAILED),
    ] {
        let _ = writeln!(
            out,
            "taskapi_database_errors_total{{kind=\"{kind}\"}} {}",
            counter.load(Ordering::Relaxed)
        );
    }
    out
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: i64) {
    header(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {value}");
}

/// Serves `/metrics` on `listener` from a thread of its own, one scrape at
/// a time (a scraper asks every few seconds; nothing else belongs here).
/// `open_connections` reads the poller's count. Each scrape's connection
/// gets a 2-second deadline, so a client that stalls holds the thread that
/// long at most.
pub fn serve(
    listener: TcpListener,
    open_connections: impl Fn() -> usize + Send + 'static,
) -> std::io::Result<thread::JoinHandle<()>> {
    thread::Builder::new()
        .name("metrics".to_owned())
        .spawn(move || {
            for stream in listener.incoming() {
                match stream {
                    Ok(stream) => answer(stream, &open_connections),
                    // Out of descriptors and the like: wait, then accept again.
                    Err(_) => thread::sleep(Duration::from_millis(100)),
                }
            }
        })
}

fn answer(mut stream: TcpStream, open_connections: &impl Fn() -> usize) {
    let deadline = Some(Duration::from_secs(2));
    if stream.set_read_timeout(deadline).is_err() || stream.set_write_timeout(deadline).is_err() {
        return;
    }
    // The request line is all that matters; a head larger than this is
    // not a scraper's.
    let mut head = [0u8; 2048];
    let mut read = 0;
    while read < head.len() {
        match stream.read(&mut head[read..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => read += n,
        }
        if head[..read].windows(4).any(|window| window == b"\r\n\r\n") {
            break;
        }
    }
    let line = head[..read]
        .split(|byte| *byte == b'\n')
        .next()
        .unwrap_or_default();
    let (status, content_type, body) = if line.starts_with(b"GET /metrics ") {
        (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            render(open_connections()),
        )
    } else {
        (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "only GET /metrics is served here\n".to_owned(),
        )
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_lands_in_its_latency_bucket_and_the_histogram_is_cumulative() {
        record_request(Some("/metrics-unit-test"), "GET", 200, 0.003);
        record_request(Some("/metrics-unit-test"), "GET", 200, 0.0004);
        let text = render(0);
        let line = |le: &str| {
            format!(
                "taskapi_request_duration_seconds_bucket{{route=\"/metrics-unit-test\",method=\"GET\",le=\"{le}\"}}"
            )
        };
        assert!(text.contains(&format!("{} 1\n", line("0.0005"))), "{text}");
        assert!(text.contains(&format!("{} 1\n", line("0.0025"))), "{text}");
        assert!(text.contains(&format!("{} 2\n", line("0.005"))), "{text}");
        assert!(text.contains(&format!("{} 2\n", line("+Inf"))), "{text}");
        assert!(text.contains(
            "taskapi_requests_total{route=\"/metrics-unit-test\",method=\"GET\",status=\"200\"} 2\n"
        ));
    }
}
