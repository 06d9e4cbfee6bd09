//! `taskapi healthcheck`: asks a running server's `GET /healthz` whether it
//! is ready, and turns the answer into an exit code.
//!
//! It exists for the container image, whose `scratch` base has no shell and
//! no curl for a `HEALTHCHECK` to run: the binary checks itself. It is a
//! deliberately tiny HTTP/1.1 client on `std::net::TcpStream` (one request,
//! `Connection: close`, read the status line), because the only thing it
//! must understand is "was that a 200", and an HTTP client crate would add
//! more code than the check itself.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// The whole check, connect to last byte, must finish within this: well
/// under the container's `HEALTHCHECK --timeout=3s`, so that a slow server
/// is reported by this message rather than killed by the runtime.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// The most of the response that is read; `/healthz` answers in a few
/// hundred bytes.
const MAX_RESPONSE: usize = 16 * 1024;

/// Sends `GET /healthz` to `addr` (what `--addr` names, as the server
/// reads it) and returns a line saying it answered 200, or a line saying
/// what happened instead: connection refused, no answer in time, another
/// status.
pub fn check(addr: &str, timeout: Duration) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    let targets = targets(addr)?;
    let mut last_error = format!("{addr} resolves to no address");
    for target in targets {
        match ask(target, deadline, timeout) {
            Ok(status) if status.code == 200 => {
                return Ok(format!("http://{target}/healthz answered 200"));
            }
            Ok(status) => {
                return Err(format!("http://{target}/healthz answered {}", status.line));
            }
            Err(error) => last_error = error,
        }
    }
    Err(last_error)
}

/// The addresses to try for `addr`. A server told to listen on every
/// interface (`0.0.0.0`, `[::]`, as in the container) is reached on the
/// loopback address of the same family: the unspecified address is not
/// something to connect to.
fn targets(addr: &str) -> Result<Vec<SocketAddr>, String> {
    let resolved = addr
        .to_socket_addrs()
        .map_err(|error| format!("cannot resolve {addr}: {error}"))?;
    Ok(resolved
        .map(|mut target| {
            match target.ip() {
                IpAddr::V4(ip) if ip.is_unspecified() => target.set_ip(Ipv4Addr::LOCALHOST.into()),
                IpAddr::V6(ip) if ip.is_unspecified() => target.set_ip(Ipv6Addr::LOCALHOST.into()),
                _ => {}
            }
            target
        })
        .collect())
}

/// What the server answered.
#[derive(Debug, PartialEq, Eq)]
struct Status {
    code: u16,
    /// The status line without the version: `503 Service Unavailable`.
    line: String,
}

/// One attempt at one address, within `deadline` (`timeout` from the start,
/// for the message).
fn ask(target: SocketAddr, deadline: Instant, timeout: Duration) -> Result<Status, String> {
    let timed_out = || format!("no answer from {target} within {timeout:?}");
    let remaining = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
    };
    let mut stream = TcpStream::connect_timeout(&target, remaining().ok_or_else(timed_out)?)
        .map_err(|error| match error.kind() {
            ErrorKind::ConnectionRefused => {
                format!("cannot connect to {target}: connection refused (is taskapi running?)")
            }
            ErrorKind::TimedOut | ErrorKind::WouldBlock => timed_out(),
            _ => format!("cannot connect to {target}: {error}"),
        })?;
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n");
    stream
        .set_write_timeout(remaining())
        .and_then(|()| stream.write_all(request.as_bytes()))
        .map_err(|error| format!("sending to {target}: {error}"))?;

    // Read until the server closes (it will: `Connection: close`), so that
    // the close is clean, but decide on the status line alone: a body that
    // does not arrive in time does not change a 200.
    let mut response = Vec::new();
    let mut buffer = [0u8; 1024];
    while response.len() < MAX_RESPONSE {
        let Some(left) = remaining() else { break };
        let read = stream
            .set_read_timeout(Some(left))
            .and_then(|()| stream.read(&mut buffer));
        match read {
            Ok(0) => break,
            Ok(count) => response.extend_from_slice(&buffer[..count]),
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break;
            }
            Err(error) if response.is_empty() => {
                return Err(format!("reading from {target}: {error}"));
            }
            Err(_) => break,
        }
    }
    if response.is_empty() {
        return Err(timed_out());
    }
    status(&response).ok_or_else(|| {
        let start = String::from_utf8_lossy(&response[..response.len().min(40)]).into_owned();
        format!("{target} answered something that is not HTTP: {start:?}")
    })
}

/// The status of an HTTP/1.x response's first line: `HTTP/1.1 200 OK`.
fn status(response: &[u8]) -> Option<Status> {
    let end = response.windows(2).position(|pair| pair == b"\r\n")?;
    let line = std::str::from_utf8(&response[..end]).ok()?;
    let rest = line.strip_prefix("HTTP/1.")?.get(2..)?;
    let code = rest.get(..3)?.parse::<u16>().ok()?;
    Some(Status {
        code,
        line: rest.trim_end().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(response: &[u8]) -> Option<(u16, String)> {
        status(response).map(|status| (status.code, status.line))
    }

    #[test]
    fn the_status_line_gives_the_code_and_its_reason() {
        assert_eq!(
            code(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"),
            Some((200, "200 OK".to_owned()))
        );
        assert_eq!(
            code(b"HTTP/1.0 503 Service Unavailable\r\n"),
            Some((503, "503 Service Unavailable".to_owned()))
        );
    }

    #[test]
    fn anything_but_an_http_status_line_is_no_status() {
        assert!(code(b"HTTP/1.1 200 OK").is_none(), "no line end yet");
        assert!(code(b"SSH-2.0-OpenSSH_9.6\r\n").is_none());
        assert!(code(b"HTTP/1.1 2x0 OK\r\n").is_none());
        assert!(code(b"\r\n").is_none());
    }

    #[test]
    fn an_unspecified_address_is_checked_on_loopback() {
        assert_eq!(
            targets("0.0.0.0:8000").unwrap(),
            ["127.0.0.1:8000".parse().unwrap()]
        );
        assert_eq!(targets("[::]:80").unwrap(), ["[::1]:80".parse().unwrap()]);
        assert_eq!(
            targets("10.1.2.3:9").unwrap(),
            ["10.1.2.3:9".parse().unwrap()]
        );
        assert!(targets("no port").is_err());
    }
}
