//! The `taskapi` binary: parses the configuration, starts the server,
//! turns SIGINT/SIGTERM into a graceful shutdown, and sets the exit code.
//! Everything else lives in the library.
//!
//! There is no supervisor process: nothing a client sends can take the
//! server down (the connection layer owns every socket and bounds every
//! wait), so restarting after a crash is left to systemd or the container
//! runtime (`deploy/taskapi.service`).

use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use taskapi::config::{self, Command};
use taskapi::http::poller::SHUTDOWN_GRACE;
use taskapi::{server, sys};

/// How long after the first signal the process exits even if a handler is
/// still running: a second past the poller's shutdown grace.
const HARD_STOP_AFTER: Duration = Duration::from_secs(SHUTDOWN_GRACE.as_secs() + 1);

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("taskapi: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let config = match config::parse(std::env::args().skip(1), |name| std::env::var(name).ok())? {
        Command::Run(config) => config,
        Command::Help => {
            print!("{}", config::HELP);
            return Ok(());
        }
        Command::Version => {
            println!("taskapi {}", env!("CARGO_PKG_VERSION"));
            return Ok(());
        }
    };
    // Signals are caught from here on, before the listening line: a SIGTERM
    // sent the moment a script sees the server up must not kill it with
    // the default action.
    let signals = Signals::new([SIGINT, SIGTERM])
        .map_err(|error| format!("installing signal handlers: {error}"))?;
    sys::tune_allocator();

    let server = server::start(&config)?;
    // Scripts and tests read this first line to learn the real port; the
    // server answers from here on.
    eprintln!("taskapi listening on http://{}", server.addr());
    if let Some(warning) = config.warning() {
        eprintln!("{warning}");
    }
    stop_on_signals(signals, server.shutdown_handle());
    server.wait()?;
    eprintln!("taskapi stopped");
    Ok(())
}

/// The first SIGINT or SIGTERM starts a graceful shutdown; a second one
/// more than a second later (an impatient Ctrl-C) exits at once, and so
/// does the process if the shutdown has not finished by `HARD_STOP_AFTER`:
/// what was acknowledged is already on disk.
fn stop_on_signals(mut signals: Signals, shutdown: server::ShutdownHandle) {
    thread::spawn(move || {
        let mut received = signals.forever();
        if received.next().is_none() {
            return;
        }
        eprintln!("shutting down: answering requests already received");
        shutdown.shutdown();
        thread::spawn(|| {
            thread::sleep(HARD_STOP_AFTER);
            eprintln!("requests still running after {HARD_STOP_AFTER:?}; exiting");
            std::process::exit(0);
        });
        // A second signal within a second is the same stop request arriving
        // twice (systemd signals every process of the service); a later one
        // is impatience.
        let first = Instant::now();
        for _ in received.by_ref() {
            if first.elapsed() >= Duration::from_secs(1) {
                eprintln!("second signal: exiting now");
                std::process::exit(1);
            }
        }
    });
}
