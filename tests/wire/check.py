"""taskapi's responses through h11, a strict HTTP/1.1 implementation that
shares no code with taskapi or httparse.

Usage: check.py HOST:PORT

Each exchange below is sent with h11 as the client; h11 parses every byte
the server writes and raises on anything RFC 9112 does not allow (a body
on a 204 or 304, a Content-Length on a 1xx, a bad chunk, a missing
header terminator, bytes after a response that closed). It checks the
connection semantics too: responses in order on one kept-alive
connection, the server's close after `Connection: close`, HEAD framing,
`Expect: 100-continue`. Prints one line per exchange; exits non-zero on
the first failure. Every socket has a timeout.
"""

import json
import socket
import sys

import h11

address = sys.argv[1]
host, port = address.rsplit(":", 1)
port = int(port)


class Client:
    """One connection, driven by h11's client state machine."""

    def __init__(self):
        self.socket = socket.create_connection((host, port), timeout=5)
        self.connection = h11.Connection(our_role=h11.CLIENT)

    def send(self, event):
        data = self.connection.send(event)
        if data:
            self.socket.sendall(data)

    def next_event(self):
        while True:
            event = self.connection.next_event()
            if event is h11.NEED_DATA:
                self.connection.receive_data(self.socket.recv(65536))
                continue
            return event

    def request(self, method, target, headers=(), body=b""):
        """Sends a request and returns (response, body) once h11 has read it all."""
        headers = [("Host", host), *headers]
        if body:
            headers.append(("Content-Length", str(len(body))))
        self.send(h11.Request(method=method, target=target, headers=headers))
        if body:
            self.send(h11.Data(data=body))
        self.send(h11.EndOfMessage())
        return self.read_response()

    def read_response(self):
        response = self.next_event()
        while isinstance(response, h11.InformationalResponse):
            response = self.next_event()
        assert isinstance(response, h11.Response), response
        body = b""
        while True:
            event = self.next_event()
            if isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return response, body
            else:
                raise AssertionError(f"unexpected {event!r}")

    def next_request_allowed(self):
        """Whether h11 may reuse the connection (both sides kept it alive)."""
        return self.connection.our_state is h11.DONE and self.connection.their_state is h11.DONE

    def reuse(self):
        self.connection.start_next_cycle()

    def server_closed(self):
        """After a response that closed: the server's side is at end of file."""
        event = self.next_event()
        return isinstance(event, h11.ConnectionClosed)


def header(response, name):
    for field, value in response.headers:
        if field.decode().lower() == name.lower():
            return value.decode()
    return None


def check(name, condition, detail=""):
    if not condition:
        raise SystemExit(f"FAIL: {name} {detail}")
    print(f"ok: {name}")


# Register, then use the token on one kept-alive connection.
client = Client()
response, body = client.request(
    "POST", "/auth/register", [("Content-Type", "application/json")],
    json.dumps({"username": "h11-user", "password": "password-h11"}).encode(),
)
check("register answers 201", response.status_code == 201, response)
token = json.loads(body)["access_token"]
auth = [("Authorization", f"Bearer {token}"), ("Content-Type", "application/json")]
check("the connection stays open after a 201", client.next_request_allowed())

statuses = []
for method, target, body in [
    ("POST", "/tasks", json.dumps({"title": "from h11"}).encode()),
    ("GET", "/tasks", b""),
    ("HEAD", "/tasks", b""),
    ("GET", "/tasks/999999", b""),
    ("DELETE", "/tasks/1", b""),
    ("GET", "/healthz", b""),
]:
    client.reuse()
    response, got = client.request(method, target, auth, body)
    statuses.append(response.status_code)
    if method == "HEAD":
        check("HEAD has the GET's Content-Length and no body",
              header(response, "Content-Length") not in (None, "0") and got == b"")
check("six requests on one connection, in order", statuses == [201, 200, 200, 404, 204, 200], statuses)

client.reuse()
response, _ = client.request("GET", "/healthz", [("Connection", "close")])
check("a request that asks to close gets Connection: close",
      header(response, "Connection") == "close", response)
check("and the server then closes its side", client.server_closed())

# Expect: 100-continue with a body that will be read: 100, then the answer.
client = Client()
body = json.dumps({"title": "after 100"}).encode()
client.send(h11.Request(method="POST", target="/tasks", headers=[
    ("Host", host), ("Expect", "100-continue"), ("Content-Length", str(len(body))), *auth]))
first = client.next_event()
check("Expect: 100-continue gets a bare 100 Continue",
      isinstance(first, h11.InformationalResponse) and first.status_code == 100
      and not first.headers, first)
client.send(h11.Data(data=body))
client.send(h11.EndOfMessage())
response, _ = client.read_response()
check("and then the final answer", response.status_code == 201, response)

# Expect without a credential: the final 401 at once, no 100, then a close.
client = Client()
client.send(h11.Request(method="POST", target="/tasks", headers=[
    ("Host", host), ("Expect", "100-continue"), ("Content-Length", "10")]))
first = client.next_event()
check("Expect without a token gets the 401 at once",
      isinstance(first, h11.Response) and first.status_code == 401, first)

# An HTTP/1.0 client asking for keep-alive is answered in kind.
raw = socket.create_connection((host, port), timeout=5)
raw.sendall(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
            b"GET /healthz HTTP/1.0\r\n\r\n")
data = b""
while True:
    chunk = raw.recv(65536)
    if not chunk:
        break
    data += chunk
check("HTTP/1.0 keep-alive then a close: two answers, then end of file",
      data.count(b"HTTP/1.1 200 OK") == 2 and b"Connection: keep-alive" in data
      and data.rstrip().endswith(b'{"status":"ok"}'), data[:200])
print("ok: every response parsed by h11")
