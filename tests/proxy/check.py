"""Attacks taskapi through nginx and checks that nginx absorbs them.

Usage: check.py PROXY_HOST:PORT UPSTREAM_HOST:PORT TASKAPI_PID

Each attack holds its connections open while a normal GET /healthz and an
authenticated GET /tasks go through the proxy; both must answer within a
second. Standard library only; every socket has a timeout.
"""

import json
import os
import socket
import sys
import time
import urllib.request

proxy, upstream, taskapi_pid = sys.argv[1], sys.argv[2], int(sys.argv[3])


def wait_for(address):
    for _ in range(100):
        try:
            socket.create_connection(split(address), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"FAIL: nothing listens on {address}")


def split(address):
    host, port = address.rsplit(":", 1)
    return host, int(port)


def request(path, token=None, body=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    started = time.monotonic()
    req = urllib.request.Request(f"http://{proxy}{path}", data=data, headers=headers)
    with urllib.request.urlopen(req, timeout=5) as response:
        payload = response.read()
        return response.status, payload, time.monotonic() - started


def raw(payload, wait_for_answer=True):
    connection = socket.create_connection(split(proxy), timeout=5)
    connection.sendall(payload)
    if not wait_for_answer:
        return connection
    answer = connection.recv(4096).decode(errors="replace")
    connection.close()
    return answer


def normal_requests_still_answer(token, during):
    for path, auth in (("/healthz", None), ("/tasks", token)):
        status, _, seconds = request(path, auth)
        if status != 200 or seconds > 1.0:
            raise SystemExit(f"FAIL during {during}: {path} -> {status} in {seconds:.2f} s")
        print(f"  {during}: {path} {status} in {seconds * 1000:.0f} ms")


def taskapi_alive():
    os.kill(taskapi_pid, 0)  # raises if the process is gone


wait_for(proxy)
wait_for(upstream)
status, body, _ = request("/auth/register", body={"username": "ann", "password": "password-ann"})
token = json.loads(body)["access_token"]
print("ok: requests pass through nginx")

# 1. An absurd Content-Length (which would abort taskapi itself): nginx
#    answers 413 from the header alone.
answer = raw(b"POST /tasks HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000000000\r\n\r\n")
assert answer.startswith("HTTP/1.1 413"), answer[:80]
taskapi_alive()
normal_requests_still_answer(token, "after an absurd Content-Length")
print("ok: an absurd Content-Length gets 413 from nginx; taskapi unharmed")

# 2. Declared bodies that never arrive (each would hold one of taskapi's two
#    workers): nginx waits for them itself.
held = [
    raw(b"POST /tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 5000\r\n\r\n{", wait_for_answer=False)
    for _ in range(8)
]
time.sleep(0.3)
normal_requests_still_answer(token, "8 missing bodies")
for connection in held:
    connection.close()
print("ok: missing bodies stay at nginx")

# 3. 500 slow clients trickling headers and idle connections.
slow = []
for n in range(500):
    connection = socket.create_connection(split(proxy), timeout=5)
    connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" if n % 2 else b"")
    slow.append(connection)
for second in range(3):
    for connection in slow[1::2]:
        try:
            connection.sendall(b"X-Slow: 1\r\n")
        except OSError:
            pass
    normal_requests_still_answer(token, f"500 slow or idle clients, second {second + 1}")
    time.sleep(1)
for connection in slow:
    connection.close()
taskapi_alive()
print("ok: 500 slow and idle clients do not starve taskapi behind nginx")

# 4. An HTTP/2 preface (which taskapi answers 505 when sent to it
#    directly): nginx refuses it itself.
answer = raw(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
assert answer.startswith("HTTP/1.1 400"), answer[:80]
normal_requests_still_answer(token, "after an HTTP/2 preface")
print("ok: an HTTP/2 preface gets 400 from nginx")
