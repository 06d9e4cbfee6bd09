"""taskapi's /metrics, parsed by prometheus_client's own text-format parser.

Usage: check.py BASE_URL METRICS_URL

Makes a few requests (a registration, tasks created, a 404), then reads
the metrics page and parses it with `text_string_to_metric_families`,
the parser Prometheus' Python client ships: a malformed line, a wrong
type or a histogram whose buckets are not cumulative fails here. Then it
checks that every family the README lists is there with its type, and
that the counters moved as the requests did.
"""

import json
import sys
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

base, metrics_url = sys.argv[1], sys.argv[2]


def call(method, path, body=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


status, body = call("POST", "/auth/register", {"username": "ann", "password": "password-ann"})
token = json.loads(body)["access_token"]
for n in range(5):
    call("POST", "/tasks", {"title": f"task {n}"}, token)
call("GET", "/tasks/4242", token=token)

with urllib.request.urlopen(metrics_url, timeout=5) as response:
    content_type = response.headers["Content-Type"]
    text = response.read().decode()
if not content_type.startswith("text/plain; version=0.0.4"):
    raise SystemExit(f"FAIL: Content-Type {content_type}")

families = {family.name: family for family in text_string_to_metric_families(text)}
expected = {
    "taskapi_requests": "counter",
    "taskapi_request_duration_seconds": "histogram",
    "taskapi_open_connections": "gauge",
    "taskapi_requests_in_flight": "gauge",
    "taskapi_password_hashes_waiting": "gauge",
    "taskapi_writes_per_commit": "histogram",
    "taskapi_database_errors": "counter",
}
for name, kind in expected.items():
    if name not in families:
        raise SystemExit(f"FAIL: no {name} in {sorted(families)}")
    if families[name].type != kind:
        raise SystemExit(f"FAIL: {name} is a {families[name].type}, not a {kind}")


def value(family, sample_name, **labels):
    for sample in families[family].samples:
        if sample.name == sample_name and all(sample.labels.get(k) == v for k, v in labels.items()):
            return sample.value
    return None


created = value("taskapi_requests", "taskapi_requests_total", route="/tasks", method="POST", status="201")
if created != 5:
    raise SystemExit(f"FAIL: {created} POST /tasks 201 counted, 5 made")
missing = value("taskapi_requests", "taskapi_requests_total", route="/tasks/{id}", method="GET", status="404")
if missing != 1:
    raise SystemExit(f"FAIL: {missing} GET /tasks/{{id}} 404 counted, 1 made")
latency = value("taskapi_request_duration_seconds", "taskapi_request_duration_seconds_count", route="/tasks", method="POST")
if latency != 5:
    raise SystemExit(f"FAIL: the POST /tasks latency histogram counts {latency}")
writes = value("taskapi_writes_per_commit", "taskapi_writes_per_commit_sum")
if not writes or writes < 6:
    raise SystemExit(f"FAIL: {writes} writes committed, 6 made")
samples = sum(len(family.samples) for family in families.values())
print(f"ok: {len(families)} metric families, {samples} samples, parsed by prometheus_client")
