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
//! Only a crash (death by a signal we did not send) means a restart, and
//! only crashes before the server is ready count towards giving up: a request
//! that crashes a running server must not be able to stop the service by
//! being sent six times. A clean exit ends the supervisor with the same
//! status: 0 after SIGTERM, non-zero when the server could no longer accept
//! connections or could not start, so an outer supervisor (systemd, a
//! container runtime) still sees that.
//!
//! The listening line is printed once the first server process says it is
//! ready (a byte on a pipe), so that "listening" means "answering".

use std::io::Read;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread;
use std::time::Duration;

use signal_hook::iterator::Signals;

use crate::sys;

/// The environment variable that tells a `taskapi` process it is the server
/// and which descriptor is its listening socket.
pub const LISTENER_FD_ENV: &str = "TASKAPI_LISTENER_FD";
/// The descriptor on which the server process reports that it is ready.
pub const READY_FD_ENV: &str = "TASKAPI_READY_FD";

/// A crash before the server reported ready is a failure to start; more
/// than this many in a row and the supervisor gives up.
const MAX_STARTUP_CRASHES: usize = 5;

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

/// Tells the supervisor, if there is one, that this server process is
/// ready to answer.
pub fn report_ready() -> Result<(), String> {
    let Ok(value) = std::env::var(READY_FD_ENV) else {
        return Ok(());
    };
    let fd = value
        .parse()
        .map_err(|_| format!("{READY_FD_ENV} is not a descriptor number: {value:?}"))?;
    sys::signal_ready(fd).map_err(|error| format!("reporting readiness: {error}"))
}

/// Runs the server in a child process on `listener` until it exits cleanly
/// or keeps crashing at start-up; forwards SIGINT and SIGTERM (caught by
/// `signals`) to it; calls `on_ready` once the first server is ready.
pub fn run(
    listener: &TcpListener,
    signals: Signals,
    on_ready: impl FnOnce(),
) -> Result<(), String> {
    sys::make_inheritable(listener).map_err(|error| format!("passing the listener on: {error}"))?;
    let program =
        std::env::current_exe().map_err(|error| format!("finding our own binary: {error}"))?;
    let child = Arc::new(AtomicU32::new(0));
    let stopping = Arc::new(AtomicBool::new(false));
    forward_signals(signals, Arc::clone(&child), Arc::clone(&stopping));

    let mut on_ready = Some(on_ready);
    let mut startup_crashes = 0;
    loop {
        let (mut ready, ready_writer) =
            std::io::pipe().map_err(|error| format!("making a pipe: {error}"))?;
        sys::make_inheritable(&ready_writer)
            .map_err(|error| format!("passing the pipe on: {error}"))?;
        let mut command = Command::new(&program);
        command
            .args(std::env::args_os().skip(1))
            .env(LISTENER_FD_ENV, listener.as_raw_fd().to_string())
            .env(READY_FD_ENV, ready_writer.as_raw_fd().to_string());
        let mut server = sys::spawn_tied_to_parent(&mut command)
            .map_err(|error| format!("starting the server: {error}"))?;
        // Only the child may hold the write end, or a child that dies
        // before it is ready would leave the read below waiting forever.
        drop(ready_writer);
        child.store(server.id(), Ordering::SeqCst);
        if stopping.load(Ordering::SeqCst) {
            // A signal came while the child was being started.
            sys::send_signal(server.id(), libc::SIGTERM);
        }
        // One byte when the server is ready, end of file if it died first.
        let became_ready = ready.read(&mut [0]).is_ok_and(|read| read == 1);
        if became_ready && let Some(on_ready) = on_ready.take() {
            on_ready();
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
                if !became_ready {
                    startup_crashes += 1;
                    if startup_crashes > MAX_STARTUP_CRASHES {
                        return Err(format!(
                            "the server process crashed at start-up {startup_crashes} times in a row; giving up"
                        ));
                    }
                    // Do not spin on a server that cannot start.
                    thread::sleep(Duration::from_millis(100));
                } else {
                    startup_crashes = 0;
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
