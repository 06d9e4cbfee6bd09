//! A raw-socket HTTP/1.1 client for the tests of the connection layer
//! (`connections`, `hostile`, `limits`, `framing`, `shutdown`).
//!
//! `support`'s client opens a connection per request and hides the wire;
//! these tests are about the wire, so they write bytes and read responses
//! themselves. Every response is parsed by httparse, a strict parser, so a
//! malformed status line or header fails the test that received it.
//!
//! Every read is bounded by [`PATIENCE`]: a server that stops answering
//! fails the test instead of hanging the suite. The bound is generous
//! because it is only there to end a hang; no test asserts how fast
//! anything happens (timing targets live in `bench/`).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Session, TestApp};

/// The longest any test waits for one thing to happen.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// The server's address, from the app's base URL.
pub fn addr_of(app: &TestApp) -> SocketAddr {
    app.base
        .trim_start_matches("http://")
        .parse()
        .expect("a socket address")
}

/// `GET /healthz`, kept alive (HTTP/1.1's default).
pub const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

/// `GET /healthz` asking the server to close afterwards.
pub const HEALTHZ_THEN_CLOSE: &[u8] =
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

/// `POST /tasks` creating a task titled `title`, with `extra` header
/// lines (each ending in CRLF) after the usual ones.
pub fn post_task(session: &Session, title: &str, extra: &str) -> String {
    let body = serde_json::json!({ "title": title }).to_string();
    format!(
        "POST /tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n{extra}\r\n{body}",
        session.token,
        body.len()
    )
}

/// `GET /tasks` for `session`.
pub fn list_tasks(session: &Session) -> String {
    format!(
        "GET /tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n",
        session.token
    )
}

/// How many tasks `session` has, asked through the ordinary client.
pub fn task_count(app: &TestApp, session: &Session) -> usize {
    let list = app.get("/tasks").bearer(&session.token).send();
    assert_eq!(list.status, 200, "{}", list.text);
    list.body.as_array().expect("a JSON array").len()
}

/// Asserts that the app still answers a health check and a task list,
/// through fresh connections.
#[track_caller]
pub fn assert_still_serving(app: &TestApp, session: &Session, during: &str) {
    assert_eq!(app.get("/healthz").send().status, 200, "healthz {during}");
    let list = app.get("/tasks").bearer(&session.token).send();
    assert_eq!(list.status, 200, "GET /tasks {during}: {}", list.text);
}

/// One response, parsed.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Whether the response says `Connection: close`.
    pub fn says_close(&self) -> bool {
        self.header("Connection")
            .is_some_and(|value| value.eq_ignore_ascii_case("close"))
    }

    /// The body as JSON (`Value::Null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// Asserts an RFC 9457 problem document with `status`, and returns it.
    #[track_caller]
    pub fn assert_problem(&self, status: u16) -> Value {
        let text = String::from_utf8_lossy(&self.body);
        assert_eq!(self.status, status, "{:?} {text}", self.headers);
        assert_eq!(
            self.header("Content-Type"),
            Some("application/problem+json"),
            "{text}"
        );
        let body = self.json();
        assert_eq!(body["status"], status, "{text}");
        assert_eq!(body["type"], "about:blank", "{text}");
        assert!(body["title"].is_string(), "{text}");
        assert!(body["detail"].is_string(), "{text}");
        body
    }

    /// Asserts the connection layer's own refusal: a problem document with
    /// `status` that says `Connection: close`. Returns its `detail`.
    #[track_caller]
    pub fn assert_refusal(&self, status: u16) -> String {
        let problem = self.assert_problem(status);
        assert!(self.says_close(), "{status} must close: {:?}", self.headers);
        problem["detail"].as_str().unwrap_or_default().to_owned()
    }
}

/// Parses one complete response from the start of `bytes` with httparse.
/// `Ok(None)`: more bytes are needed. The body is delimited by
/// `Content-Length`, which every response of this server with a body has;
/// a 1xx, a 204 and the answer to a HEAD (`head_only`) have none.
pub fn parse_response(bytes: &[u8], head_only: bool) -> Result<Option<(Answer, usize)>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head_length = match response.parse(bytes) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(error) => {
            return Err(format!(
                "unparseable response ({error}): {:?}",
                String::from_utf8_lossy(bytes)
            ));
        }
    };
    let headers: Vec<(String, String)> = response
        .headers
        .iter()
        .map(|header| {
            (
                header.name.to_owned(),
                String::from_utf8_lossy(header.value).into_owned(),
            )
        })
        .collect();
    let status = response.code.ok_or("no status code")?;
    let content_length = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("Content-Length"))
        .map(|(_, value)| value.parse::<usize>().map_err(|_| "bad Content-Length"))
        .transpose()?;
    let body_length = match content_length {
        _ if head_only || status == 204 || (100..200).contains(&status) => 0,
        Some(length) => length,
        None => return Err(format!("a {status} response without Content-Length")),
    };
    let total = head_length + body_length;
    if bytes.len() < total {
        return Ok(None);
    }
    let answer = Answer {
        status,
        headers,
        body: bytes[head_length..total].to_vec(),
    };
    Ok(Some((answer, total)))
}

/// How a wait for the server to close a connection ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// The server closed its side (FIN) after sending these bytes.
    Closed(Vec<u8>),
    /// The connection was reset after these bytes.
    Reset(Vec<u8>),
}

/// A client connection, with the bytes received but not yet parsed.
pub struct Wire {
    stream: TcpStream,
    unread: Vec<u8>,
}

impl Wire {
    pub fn open(app: &TestApp) -> Wire {
        Wire::open_to(addr_of(app))
    }

    pub fn open_to(addr: SocketAddr) -> Wire {
        let stream = TcpStream::connect(addr).expect("connect to the server");
        Wire {
            stream,
            unread: Vec::new(),
        }
    }

    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Writes `bytes`, panicking if the connection is gone.
    #[track_caller]
    pub fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.stream
            .write_all(bytes.as_ref())
            .expect("send to the server");
    }

    /// Writes `bytes`; for tests where the server may close before it has
    /// read them all.
    pub fn try_send(&mut self, bytes: impl AsRef<[u8]>) -> io::Result<()> {
        self.stream.write_all(bytes.as_ref())
    }

    /// Sends `request` and reads its response.
    #[track_caller]
    pub fn exchange(&mut self, request: impl AsRef<[u8]>) -> Answer {
        let request = request.as_ref();
        self.send(request);
        if request.starts_with(b"HEAD ") {
            self.head_response()
        } else {
            self.response()
        }
    }

    /// The next response, which must come within [`PATIENCE`].
    #[track_caller]
    pub fn response(&mut self) -> Answer {
        self.read_response(false)
            .unwrap_or_else(|error| panic!("{error}"))
    }

    /// The next response, to a HEAD request (so without a body).
    #[track_caller]
    pub fn head_response(&mut self) -> Answer {
        self.read_response(true)
            .unwrap_or_else(|error| panic!("{error}"))
    }

    /// The next response; `Err` says why there was none.
    pub fn read_response(&mut self, head_only: bool) -> Result<Answer, String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some((answer, used)) = parse_response(&self.unread, head_only)? {
                self.unread.drain(..used);
                return Ok(answer);
            }
            match self.read_some(deadline) {
                Ok(0) => {
                    return Err(format!(
                        "the server closed the connection before a full response \
                         (received {:?})",
                        String::from_utf8_lossy(&self.unread)
                    ));
                }
                Ok(_) => {}
                Err(error) if is_timeout(&error) => {
                    return Err(format!(
                        "no full response within {PATIENCE:?} (received {:?})",
                        String::from_utf8_lossy(&self.unread)
                    ));
                }
                Err(error) => return Err(format!("reading a response: {error}")),
            }
        }
    }

    /// Exactly the next `count` bytes received, unparsed.
    #[track_caller]
    pub fn raw(&mut self, count: usize) -> Vec<u8> {
        let deadline = Instant::now() + PATIENCE;
        while self.unread.len() < count {
            match self.read_some(deadline) {
                Ok(0) => panic!("closed after {:?}", String::from_utf8_lossy(&self.unread)),
                Ok(_) => {}
                Err(error) => panic!("{error} after {:?}", String::from_utf8_lossy(&self.unread)),
            }
        }
        self.unread.drain(..count).collect()
    }

    /// Waits (within [`PATIENCE`]) for the server to close the connection,
    /// and says how it ended and what came before; `Err` if it is still
    /// open.
    pub fn ending(&mut self) -> Result<Ending, String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self.read_some(deadline) {
                Ok(0) => return Ok(Ending::Closed(std::mem::take(&mut self.unread))),
                Ok(_) => {}
                Err(error) if error.kind() == io::ErrorKind::ConnectionReset => {
                    return Ok(Ending::Reset(std::mem::take(&mut self.unread)));
                }
                Err(error) if is_timeout(&error) => {
                    return Err(format!(
                        "the connection was still open after {PATIENCE:?} (received {:?})",
                        String::from_utf8_lossy(&self.unread)
                    ));
                }
                Err(error) => return Err(format!("waiting for the close: {error}")),
            }
        }
    }

    /// Asserts that the server closes the connection cleanly (a FIN, not a
    /// reset) without sending anything more.
    #[track_caller]
    pub fn assert_closed(&mut self) {
        match self.ending() {
            Ok(Ending::Closed(rest)) if rest.is_empty() => {}
            Ok(Ending::Closed(rest)) => panic!(
                "bytes before the close: {:?}",
                String::from_utf8_lossy(&rest)
            ),
            Ok(Ending::Reset(rest)) => panic!(
                "the connection was reset, not closed (after {:?})",
                String::from_utf8_lossy(&rest)
            ),
            Err(error) => panic!("{error}"),
        }
    }

    /// One read into `unread`, waiting no later than `deadline`.
    fn read_some(&mut self, deadline: Instant) -> io::Result<usize> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(read) => {
                    self.unread.extend_from_slice(&chunk[..read]);
                    return Ok(read);
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }
}

/// Sends `bytes` one at a time, `every` apart, from another thread, until
/// they run out, the server closes, or the returned guard is dropped.
pub fn trickle(wire: &Wire, bytes: Vec<u8>, every: Duration) -> Trickle {
    let stop = Arc::new(AtomicBool::new(false));
    let mut writer = wire.stream().try_clone().expect("clone the socket");
    let stopped = Arc::clone(&stop);
    thread::spawn(move || {
        for byte in bytes {
            if stopped.load(Ordering::SeqCst) || writer.write_all(&[byte]).is_err() {
                return;
            }
            thread::sleep(every);
        }
    });
    Trickle(stop)
}

/// A trickling sender; it stops when this is dropped.
pub struct Trickle(Arc<AtomicBool>);

impl Drop for Trickle {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Makes closing `stream` reset the connection (`SO_LINGER` of zero), as a
/// client that crashes or a middlebox that gives up would.
pub fn reset_on_close(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt reads a `linger` struct we own, with its size.
    let result = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(result, 0, "SO_LINGER");
}
