//! What an operator sees: the `X-Request-Id` of every answer and the log
//! line that repeats it, the JSON access log, and the Prometheus metrics on
//! their own listener.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Binary, TestApp};

#[test]
fn every_answer_has_a_request_id_the_clients_own_if_it_is_sane() {
    let app = TestApp::spawn();
    let mut seen = HashSet::new();
    for _ in 0..20 {
        let reply = app.get("/healthz").send();
        let id = reply.header("X-Request-Id").expect("an id").to_owned();
        assert!(!id.is_empty() && id.len() <= 128, "{id}");
        assert!(seen.insert(id), "ids are unique");
    }
    let kept = app
        .get("/nope")
        .header("X-Request-Id", "trace-42.a:b")
        .send();
    assert_eq!(kept.status, 404);
    assert_eq!(kept.header("X-Request-Id"), Some("trace-42.a:b"));
    for insane in ["has space", "<script>", &"x".repeat(129)] {
        let replaced = app.get("/healthz").header("X-Request-Id", insane).send();
        let id = replaced.header("X-Request-Id").unwrap();
        assert_ne!(id, insane);
        assert!(!seen.contains(id));
    }
}

#[test]
fn the_json_access_log_has_one_object_per_request_with_its_route_and_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let server = Binary::start(&dir.path().join("t.db"), &["--log-format", "json"], &[]);
    let register = server
        .call("POST", "/auth/register")
        .json(json!({"username": "ann", "password": "secret-password-1"}));
    let token = register.body["access_token"].as_str().unwrap().to_owned();
    let task = server
        .call("POST", "/tasks")
        .bearer(&token)
        .header("X-Request-Id", "from-the-client")
        .json(json!({"title": "logged"}));
    let get = server
        .call(
            "GET",
            &format!("/tasks/{}?secret=query-secret-2", task.body["id"]),
        )
        .bearer(&token)
        .send();
    let lines: Vec<Value> = (0..3)
        .map(|_| {
            let line = server.stderr.recv_timeout(Duration::from_secs(5)).unwrap();
            assert!(!line.contains("secret-password-1") && !line.contains("query-secret-2"));
            assert!(!line.contains(&token), "{line}");
            serde_json::from_str(&line).unwrap_or_else(|error| panic!("{error}: {line}"))
        })
        .collect();
    assert_eq!(lines[0]["method"], "POST");
    assert_eq!(lines[0]["route"], "/auth/register");
    assert_eq!(lines[0]["status"], 201);
    assert_eq!(
        lines[0]["request_id"].as_str(),
        register.header("X-Request-Id")
    );
    assert_eq!(lines[1]["request_id"], "from-the-client");
    assert_eq!(lines[2]["route"], "/tasks/{id}");
    assert_eq!(lines[2]["path"], format!("/tasks/{}", task.body["id"]));
    assert_eq!(lines[2]["request_id"].as_str(), get.header("X-Request-Id"));
    for line in &lines {
        for field in ["time", "peer", "duration_ms", "delivered"] {
            assert!(!line[field].is_null(), "{field} in {line}");
        }
    }
}

/// The metrics page of a server started with `--metrics-addr`.
fn scrape(addr: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("the metrics listener answers");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    body.to_owned()
}

/// The value of the sample whose name and labels are exactly `series`.
fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |value| value.parse().expect("a number"))
}

#[test]
fn the_metrics_move_as_requests_are_made() {
    // A process of its own: the counters are the process's, and the
    // in-process servers of other tests would move them too.
    let dir = tempfile::tempdir().unwrap();
    let server = Binary::start(
        &dir.path().join("t.db"),
        &["--metrics-addr", "127.0.0.1:0"],
        &[],
    );
    let announced = server.stderr.recv_timeout(Duration::from_secs(5)).unwrap();
    let metrics_addr = announced
        .strip_prefix("metrics on http://")
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("the metrics line: {announced}"))
        .to_owned();
    let before = scrape(&metrics_addr);
    let register = server
        .call("POST", "/auth/register")
        .json(json!({"username": "ann", "password": "password-ann"}));
    let token = register.body["access_token"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        let created = server
            .call("POST", "/tasks")
            .bearer(&token)
            .json(json!({"title": "counted"}));
        assert_eq!(created.status, 201);
    }
    server.call("GET", "/tasks/4242").bearer(&token).send();
    server.call("GET", "/no/such/route").send();
    let after = scrape(&metrics_addr);

    let created = r#"taskapi_requests_total{route="/tasks",method="POST",status="201"}"#;
    assert_eq!(
        sample(&after, created) - sample(&before, created),
        3.0,
        "{after}"
    );
    let missing = r#"taskapi_requests_total{route="/tasks/{id}",method="GET",status="404"}"#;
    assert_eq!(sample(&after, missing) - sample(&before, missing), 1.0);
    let unmatched = r#"taskapi_requests_total{route="unmatched",method="GET",status="404"}"#;
    assert!(sample(&after, unmatched) >= 1.0);
    let latency = r#"taskapi_request_duration_seconds_count{route="/tasks",method="POST"}"#;
    assert_eq!(sample(&after, latency) - sample(&before, latency), 3.0);
    let slowest =
        r#"taskapi_request_duration_seconds_bucket{route="/tasks",method="POST",le="+Inf"}"#;
    assert_eq!(sample(&after, slowest), sample(&after, latency));
    for family in [
        "# TYPE taskapi_open_connections gauge",
        "# TYPE taskapi_requests_in_flight gauge",
        "# TYPE taskapi_password_hashes_waiting gauge",
        "# TYPE taskapi_writes_per_commit histogram",
        "# TYPE taskapi_database_errors_total counter",
    ] {
        assert!(after.contains(family), "{family}");
    }
    // Four writes (a registration, three tasks) in at least one commit.
    let commits = "taskapi_writes_per_commit_sum";
    assert!(
        sample(&after, commits) - sample(&before, commits) >= 4.0,
        "{after}"
    );
    // The API's port does not serve them.
    assert_eq!(server.call("GET", "/metrics").send().status, 404);
}
