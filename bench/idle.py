"""Holds N idle keep-alive connections to a server and reports what they cost.

Usage: idle.py HOST:PORT SERVER_PID N

Each connection makes one request (GET /healthz) and then stays open and
silent, as a browser's or a connection pool's does. With all N open, it
prints one tab-separated line: connections held, the server's threads
before and with them, its VmRSS in KiB before and with them, and how long
a request on a new connection then took in milliseconds. Standard library
only; every socket has a timeout.
"""

import socket
import sys
import time

address, pid, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
host, port = address.rsplit(":", 1)
port = int(port)


def status():
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            fields[name] = value.split()
    return int(fields["Threads"][0]), int(fields["VmRSS"][0])


def one_request(connection):
    connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = b""
    while not answer.endswith(b'{"status":"ok"}\n'):
        chunk = connection.recv(4096)
        if not chunk:
            raise SystemExit("the server closed a keep-alive connection")
        answer += chunk


threads_before, rss_before = status()
held = []
for _ in range(count):
    connection = socket.create_connection((host, port), timeout=10)
    one_request(connection)
    held.append(connection)
time.sleep(1)
threads, rss = status()
started = time.monotonic()
with socket.create_connection((host, port), timeout=10) as fresh:
    one_request(fresh)
fresh_ms = (time.monotonic() - started) * 1000
print(f"{len(held)}\t{threads_before}\t{threads}\t{rss_before}\t{rss}\t{fresh_ms:.1f}")
for connection in held:
    connection.close()
