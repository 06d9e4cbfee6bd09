//! The `taskapi` binary: parses the configuration, starts the server,
//! turns SIGINT/SIGTERM into a graceful shutdown, and sets the exit code.
//! It also runs the two operations commands, `taskapi backup` and
//! `taskapi healthcheck`, printing what they report. Everything else lives
//! in the library.
//!
//! There is no supervisor process: nothing a client sends can take the
//! server down (the connection layer owns every socket and bounds every
//! wait), so restarting after a crash is left to systemd or the container
//! runtime (`deploy/taskapi.service`).

use std::path::Path;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use taskapi::config::{self, Command};
use taskapi::http::poller::SHUTDOWN_GRACE;
use taskapi::store::backup;
use taskapi::{healthcheck, server, sys};

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
        Command::Backup { db, out } => return run_backup(&db, &out),
        Command::BackupHelp => {
            print!("{}", config::BACKUP_HELP);
            return Ok(());
        }
        Command::HealthCheck { addr } => {
            let answer = healthcheck::check(&addr, healthcheck::TIMEOUT)
                .map_err(|problem| format!("healthcheck: {problem}"))?;
            println!("healthcheck: {answer}");
            return Ok(());
        }
        Command::HealthCheckHelp => {
            print!("{}", config::HEALTHCHECK_HELP);
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
    if let Some(metrics) = server.metrics_addr() {
        eprintln!("metrics on http://{metrics}/metrics");
    }
    if let Some(warning) = config.warning() {
        eprintln!("{warning}");
    }
    stop_on_signals(signals, server.shutdown_handle());
    server.wait()?;
    eprintln!("taskapi stopped");
    Ok(())
}

/// How often `taskapi backup` prints its progress at most. A copy of a
/// small database finishes before the first line is due, and prints none.
const BACKUP_PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// `taskapi backup`: progress lines on stderr, the result on stdout. A
/// backup long enough to show progress also says when the copy is done and
/// the check, which reads it all again, begins.
fn run_backup(db: &Path, out: &Path) -> Result<(), String> {
    let mut last_line = Instant::now();
    let mut shown = false;
    let summary = backup::run(db, out, |copied, total| {
        let done = copied == total;
        if total > 0 && (last_line.elapsed() >= BACKUP_PROGRESS_EVERY || (done && shown)) {
            last_line = Instant::now();
            shown = true;
            let percent = copied * 100 / total;
            let then = if done { ", checking the copy" } else { "" };
            eprintln!("backup: {percent}% ({copied} of {total} pages){then}");
        }
    })
    .map_err(|problem| format!("backup: {problem}"))?;
    println!(
        "backup: wrote {} ({} pages, {:.1} MiB), integrity ok",
        out.display(),
        summary.pages,
        summary.bytes as f64 / f64::from(1 << 20)
    );
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
