//! The supervisor: the `taskapi` process binds the port, then runs the
//! server in a child process and starts a new one if it crashes.
//!
//! Why: tiny_http aborts the whole process on one request that declares an
//! absurd `Content-Length` (it allocates the declared size to drain the
//! body; tiny_http issue #252), and its code is not ours to change. A crash
//! loses nothing acknowledged (every 2xx write is committed first), so the
//! cure is a restart fast enough that clients barely notice: the listening
//! socket stays open here across restarts, so connections that arrive in
//! between wait in the kernel's backlog instead of being refused.
//!
//! ```text
//! taskapi (supervisor: binds, prints the listening line, forwards signals)
//!   └── taskapi with TASKAPI_LISTENER_FD=N (the server: workers, database)
//! ```
//!
//! Only a crash (death by a signal we did not send) means a restart. A clean
//! exit ends the supervisor with the same status: 0 after SIGTERM, non-zero
//! when the server could no longer accept connections, so an outer
//! supervisor (systemd, a container runtime) still sees that.

use std::collections::VecDeque;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use signal_hook::iterator::Signals;

use crate::sys;

/// The environment variable that tells a `taskapi` process it is the server
/// and which descriptor is its listening socket.
pub const LISTENER_FD_ENV: &str = "TASKAPI_LISTENER_FD";

/// More crashes than this within `CRASH_WINDOW` and the supervisor gives up:
/// a server that dies at start-up must not be restarted forever.
const MAX_CRASHES: usize = 5;
const CRASH_WINDOW: Duration = Duration::from_secs(10);

/// The listening socket passed down by a supervisor, if this process is
/// the server it started.
pub fn inherited_listener() -> Result<Option<TcpListener>, String> {
    let Ok(value) = std::env::var(LISTENER_FD_ENV) else {
        return Ok(None);
    };
    let fd = value
        .parse()
        .map_err(|_| format!("{LISTENER_FD_ENV} is not a descriptor number: {value:?}"))?;
    sys::inherited_listener(fd)
        .map(Some)
        .map_err(|error| format!("{LISTENER_FD_ENV}: {error}"))
}

/// Runs the server in a child process on `listener` until it exits cleanly
/// or crashes too often; forwards SIGINT and SIGTERM (caught by `signals`)
/// to it.
pub fn run(listener: &TcpListener, signals: Signals) -> Result<(), String> {
    sys::make_inheritable(listener).map_err(|error| format!("passing the listener on: {error}"))?;
    let program =
        std::env::current_exe().map_err(|error| format!("finding our own binary: {error}"))?;
    let child = Arc::new(AtomicU32::new(0));
    let stopping = Arc::new(AtomicBool::new(false));
    forward_signals(signals, Arc::clone(&child), Arc::clone(&stopping));

    let mut crashes = VecDeque::new();
    loop {
        let mut command = Command::new(&program);
        command
            .args(std::env::args_os().skip(1))
            .env(LISTENER_FD_ENV, listener.as_raw_fd().to_string());
        let mut server = sys::spawn_tied_to_parent(&mut command)
            .map_err(|error| format!("starting the server: {error}"))?;
        child.store(server.id(), Ordering::SeqCst);
        if stopping.load(Ordering::SeqCst) {
            // A signal came while the child was being started.
            sys::send_signal(server.id(), libc::SIGTERM);
        }
        let status = server
            .wait()
            .map_err(|error| format!("waiting for the server: {error}"))?;
        child.store(0, Ordering::SeqCst);

        if stopping.load(Ordering::SeqCst) {
            return Ok(());
        }
        match (status.code(), status.signal()) {
            (Some(0), _) => return Ok(()),
            (Some(code), _) => return Err(format!("the server process exited with status {code}")),
            (None, signal) => {
                let signal = signal.unwrap_or(0);
                let now = Instant::now();
                crashes.push_back(now);
                while crashes
                    .front()
                    .is_some_and(|at| now.duration_since(*at) > CRASH_WINDOW)
                {
                    crashes.pop_front();
                }
                if crashes.len() > MAX_CRASHES {
                    return Err(format!(
                        "the server process crashed {} times in {CRASH_WINDOW:?}; giving up",
                        crashes.len()
                    ));
                }
                eprintln!("the server process died from signal {signal}; starting a new one");
            }
        }
    }
}

/// Passes every SIGINT/SIGTERM on to the current server process.
fn forward_signals(mut signals: Signals, child: Arc<AtomicU32>, stopping: Arc<AtomicBool>) {
    thread::spawn(move || {
        for signal in signals.forever() {
            stopping.store(true, Ordering::SeqCst);
            let pid = child.load(Ordering::SeqCst);
            if pid != 0 {
                sys::send_signal(pid, signal);
            }
        }
    });
}
