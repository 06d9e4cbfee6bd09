//! The `taskapi` binary. It runs as two processes: the supervisor, which
//! binds the port and restarts the server if it crashes, and the server
//! itself (see `supervisor.rs` for why). Everything else lives in the
//! library.

use std::net::TcpListener;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use taskapi::config::{self, Command, Config};
use taskapi::{server, supervisor, sys};

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
    let signals = Signals::new([SIGINT, SIGTERM])
        .map_err(|error| format!("installing signal handlers: {error}"))?;

    if let Some(listener) = supervisor::inherited_listener()? {
        return serve(&config, listener, signals);
    }
    let listener = server::bind(&config.addr)?;
    let addr = listener
        .local_addr()
        .map_err(|error| format!("reading the bound address: {error}"))?;
    supervisor::run(&listener, signals, || {
        // Scripts and tests read this first line to learn the real port;
        // it comes once the server answers.
        eprintln!("taskapi listening on http://{addr}");
        if let Some(warning) = config.warning() {
            eprintln!("{warning}");
        }
    })
}

/// The server process: serves on the inherited listener until SIGINT or
/// SIGTERM. The first signal starts a graceful shutdown; a second one (an
/// impatient Ctrl-C) exits at once. Requests still running after
/// `SHUTDOWN_GRACE` (a client trickling its body) are abandoned: what was
/// acknowledged is already on disk.
fn serve(config: &Config, listener: TcpListener, mut signals: Signals) -> Result<(), String> {
    sys::tune_allocator();
    if let Err(error) = sys::raise_open_files_limit() {
        eprintln!("could not raise the open-files limit: {error}");
    }
    let server = server::start_on(listener, config, taskapi::router::dispatch)?;
    supervisor::report_ready()?;

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
        // A second signal within a second is the same stop request arriving
        // twice (systemd signals every process of the service, and the
        // supervisor forwards its own copy); a later one is impatience.
        let first = std::time::Instant::now();
        for _ in received.by_ref() {
            if first.elapsed() >= Duration::from_secs(1) {
                eprintln!("second signal: exiting now");
                std::process::exit(1);
            }
        }
    });

    server.wait()?;
    eprintln!("taskapi stopped");
    Ok(())
}
