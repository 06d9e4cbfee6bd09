//! The `taskapi` binary: configuration in, a running server out, and a clean
//! exit on SIGINT or SIGTERM. Everything else lives in the library.

use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use taskapi::config::{self, Command};
use taskapi::{server, sys};

/// How long a graceful shutdown waits for requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

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
    // sent the moment a supervisor sees the server up must not kill it
    // with the default action.
    let mut signals = Signals::new([SIGINT, SIGTERM])
        .map_err(|error| format!("installing signal handlers: {error}"))?;
    sys::tune_allocator();
    let open_files_limit = sys::raise_open_files_limit();
    let server = server::start(&config)?;
    // Scripts and tests read this first line to learn the real port.
    eprintln!("taskapi listening on http://{}", server.addr());
    if let Err(error) = open_files_limit {
        eprintln!("could not raise the open-files limit: {error}");
    }
    if let Some(warning) = config.warning() {
        eprintln!("{warning}");
    }

    // The first SIGINT/SIGTERM starts a graceful shutdown; a second one
    // (an impatient Ctrl-C) exits at once. Requests still running after
    // `SHUTDOWN_GRACE` (a client trickling its body) are abandoned: what was
    // acknowledged is already on disk.
    let shutdown = server.shutdown_handle();
    thread::spawn(move || {
        let mut received = signals.forever();
        if received.next().is_some() {
            eprintln!("shutting down: finishing requests in flight");
            shutdown.shutdown();
            thread::spawn(|| {
                thread::sleep(SHUTDOWN_GRACE);
                eprintln!("requests still running after {SHUTDOWN_GRACE:?}; exiting");
                std::process::exit(0);
            });
        }
        if received.next().is_some() {
            eprintln!("second signal: exiting now");
            std::process::exit(1);
        }
    });

    server.wait()?;
    eprintln!("taskapi stopped");
    Ok(())
}
