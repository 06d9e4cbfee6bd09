//! The `taskapi` binary: configuration in, a running server out, and a clean
//! exit on SIGINT or SIGTERM. Everything else lives in the library.

use std::process::ExitCode;
use std::thread;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use taskapi::config::{self, Command};
use taskapi::{server, sys};

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
    // (an impatient Ctrl-C) exits at once.
    let mut signals = Signals::new([SIGINT, SIGTERM])
        .map_err(|error| format!("installing signal handlers: {error}"))?;
    let shutdown = server.shutdown_handle();
    thread::spawn(move || {
        let mut received = signals.forever();
        if received.next().is_some() {
            eprintln!("shutting down: finishing requests in flight");
            shutdown.shutdown();
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
