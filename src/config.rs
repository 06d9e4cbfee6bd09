//! Settings from command-line flags and environment variables.
//!
//! Every setting has a default that serves, so `taskapi` with no arguments
//! runs. A flag overrides its environment variable. Parsing is a pure
//! function of the arguments and an environment lookup, so it is unit-tested
//! without touching the real process environment.
//!
//! Besides running the server, the binary has two operations commands,
//! named by the first argument: `backup` and `healthcheck`. Each reads only
//! its own flags and the environment variables it shares with the server
//! (`TASKAPI_DB`, `TASKAPI_ADDR`), so that an unrelated bad setting in the
//! environment cannot fail a container's health check.

use std::path::PathBuf;

pub use crate::access_log::LogFormat;

use crate::api::docs::DEFAULT_ASSETS_URL as DEFAULT_DOCS_ASSETS_URL;
use crate::store::Database;

/// The help text of `taskapi --help`.
pub const HELP: &str = "\
taskapi: a task-management REST API server

Usage: taskapi [OPTIONS]
       taskapi backup [--db PATH] OUT
       taskapi healthcheck [--addr HOST:PORT]

Options (each flag overrides its environment variable):
  --addr HOST:PORT            address to listen on; port 0 picks a free port
                              [env TASKAPI_ADDR, default 127.0.0.1:8000]
  --db PATH|URL               SQLite database file, created if missing, or
                              a postgres:// URL (in a build with the
                              `postgres` feature)
                              [env TASKAPI_DB, default ./taskapi.db]
  --workers N                 request worker threads, each with its own
                              database connection (on PostgreSQL: the
                              number of connections each process opens;
                              mind the server's max_connections)
                              [env TASKAPI_WORKERS, default 4 x CPU cores]
  --token-ttl-minutes N       lifetime of access tokens
                              [env TASKAPI_TOKEN_TTL_MINUTES, default 30]
  --login-max-failures N      failed password checks allowed per account
                              within a window before 429
                              [env TASKAPI_LOGIN_MAX_FAILURES, default 5]
  --login-max-failures-per-address N
                              the same, per client address
                              [env TASKAPI_LOGIN_MAX_FAILURES_PER_ADDRESS,
                              default 50]
  --login-window-seconds N    the throttling window
                              [env TASKAPI_LOGIN_WINDOW_SECONDS, default 900]
  --docs-assets-url URL       where /docs loads Swagger UI's script and
                              stylesheet (a copy of npm's swagger-ui-dist)
                              [env TASKAPI_DOCS_ASSETS_URL,
                              default https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.35.0;
                              a copy elsewhere must be that version]
  --no-docs                   serve neither /docs nor /openapi.json
  --log-format plain|json     the access log: one line per request, or one
                              JSON object per request for log shippers
                              [env TASKAPI_LOG_FORMAT, default plain]
  --metrics-addr HOST:PORT    serve Prometheus metrics at /metrics on this
                              separate address (bind it to a private one)
                              [env TASKAPI_METRICS_ADDR, default off]

Connections (each limit answers with its status and closes; see README):
  --keep-alive-timeout SECONDS
                              close a connection idle this long
                              [env TASKAPI_KEEP_ALIVE_TIMEOUT, default 5]
  --request-head-timeout SECONDS
                              a request head must arrive within this long
                              of its first byte, else 408
                              [env TASKAPI_REQUEST_HEAD_TIMEOUT, default 10]
  --request-body-timeout SECONDS
                              a body must arrive within this long after
                              its head, else 408
                              [env TASKAPI_REQUEST_BODY_TIMEOUT, default 10]
  --send-timeout SECONDS      close a connection whose client takes none
                              of its response for this long
                              [env TASKAPI_SEND_TIMEOUT, default 10]
  --max-requests-per-connection N
                              close a connection after this many requests
                              [env TASKAPI_MAX_REQUESTS_PER_CONNECTION,
                              default 1000]
  --max-connections N         open connections at most; beyond, a new one
                              gets 503 and is closed
                              [env TASKAPI_MAX_CONNECTIONS, default the
                              open-files limit less 64, at least 4096]
  --max-body-memory MIB       request bodies held in memory at once, all
                              connections together; beyond, 503
                              [env TASKAPI_MAX_BODY_MEMORY, default 64]
  -h, --help                  print this help
  -V, --version               print the version

Environment only:
  SECRET_KEY                  key that signs access tokens (at least 32 bytes).
                              Unset: a random key is generated on first start
                              and kept in the database, so tokens survive
                              restarts. Never passed as a flag, where other
                              users could read it in the process list.

On start the first line on stderr is `taskapi listening on http://HOST:PORT`.
SIGINT or SIGTERM stops accepting, closes idle connections, answers the
requests already received (waiting at most 5 s), and exits 0.

Commands (each has its own --help; README, \"Operations\"):
  backup       write a consistent, checked copy of the SQLite database to
               the new file OUT while the server keeps serving it
               (PostgreSQL: use pg_dump)
  healthcheck  GET /healthz from the server at --addr; exit 0 on 200, else
               1 with what went wrong (for container health checks)
";

/// The help text of `taskapi backup --help`.
pub const BACKUP_HELP: &str = "\
taskapi backup: a consistent copy of a SQLite database, taken while a server
keeps serving and writing it

Usage: taskapi backup [--db PATH] OUT

  --db PATH    the SQLite database file to copy; it must exist
               [env TASKAPI_DB, default ./taskapi.db]
  OUT          the file to write; it must not exist (it is never replaced)
  -h, --help   print this help

The copy is the database as of the moment the backup starts: later writes
are not in it, and the server's writes are not held up. It is written to
OUT.partial, checked with SQLite's integrity_check, and only then named
OUT, readable by its owner only (it holds the token signing key and password
hashes). Progress goes to stderr; the last line on stdout reads
`backup: wrote OUT (N pages, X MiB), integrity ok`. Exit 0 on success, 1
with one line on stderr otherwise.

To restore: stop the server, copy OUT over the database file, delete any
-wal and -shm files beside it, start the server (README, \"Operations\").
A PostgreSQL database is backed up with pg_dump.
";

/// The help text of `taskapi healthcheck --help`.
pub const HEALTHCHECK_HELP: &str = "\
taskapi healthcheck: whether a running taskapi server is ready

Usage: taskapi healthcheck [--addr HOST:PORT]

  --addr HOST:PORT  the server's address; 0.0.0.0 and [::] mean this host's
                    127.0.0.1 and [::1]
                    [env TASKAPI_ADDR, default 127.0.0.1:8000]
  -h, --help        print this help

Sends GET /healthz, which answers 200 when the server's database answers,
and 503 when it does not. Exits 0 on a 200 within 2 s; otherwise exits 1
with one line on stderr saying what happened (connection refused, no answer
in time, the status). Made for the container image's HEALTHCHECK, which has
no shell or curl to run.
";

/// The address the server listens on and `healthcheck` asks, when neither
/// `--addr` nor `TASKAPI_ADDR` says otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8000";

/// The SQLite file the server and `backup` use by default.
pub const DEFAULT_DB: &str = "taskapi.db";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Run(Config),
    Help,
    Version,
    /// `taskapi backup`: copy the SQLite database `db` to the new file `out`.
    Backup {
        db: PathBuf,
        out: PathBuf,
    },
    BackupHelp,
    /// `taskapi healthcheck`: ask the server at `addr` (as `--addr` names
    /// it) for `/healthz`.
    HealthCheck {
        addr: String,
    },
    HealthCheckHelp,
}

/// Everything the server needs to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub addr: String,
    pub db: Database,
    pub workers: u64,
    pub token_ttl_minutes: u64,
    /// Login throttling: failures per account and per address in a window.
    pub login_max_failures: u64,
    pub login_max_failures_per_address: u64,
    pub login_window_seconds: u64,
    /// Where `/docs` loads Swagger UI from; `None` (`--no-docs`) serves no
    /// documentation routes.
    pub docs_assets_url: Option<String>,
    /// `SECRET_KEY`, if set; `None` means "use the key stored in the database".
    pub secret_key: Option<Vec<u8>>,
    /// How access-log lines are written.
    pub log_format: LogFormat,
    /// Where `/metrics` is served, on a listener of its own; `None`: nowhere.
    pub metrics_addr: Option<String>,
    /// Connection deadlines, in milliseconds (the flags take seconds; tests
    /// set shorter values here).
    pub keep_alive_timeout_ms: u64,
    pub request_head_timeout_ms: u64,
    pub request_body_timeout_ms: u64,
    pub send_timeout_ms: u64,
    pub max_requests_per_connection: u64,
    /// `0`: derived from the open-files limit at start.
    pub max_connections: u64,
    /// The body budget of the connection layer, in MiB.
    pub max_body_memory_mib: u64,
}

/// A `SECRET_KEY` shorter than this is accepted with a warning: HS256 keys
/// should have at least as many bits as the hash (RFC 7518 §3.2).
pub const MIN_SECRET_BYTES: usize = 32;

impl Config {
    /// The defaults, with `workers` set from the machine's core count.
    pub fn defaults() -> Config {
        Config {
            addr: DEFAULT_ADDR.to_owned(),
            db: Database::Sqlite(PathBuf::from(DEFAULT_DB)),
            workers: 4 * cpu_count() as u64,
            token_ttl_minutes: 30,
            login_max_failures: 5,
            login_max_failures_per_address: 50,
            login_window_seconds: 15 * 60,
            docs_assets_url: Some(DEFAULT_DOCS_ASSETS_URL.to_owned()),
            secret_key: None,
            log_format: LogFormat::Plain,
            metrics_addr: None,
            keep_alive_timeout_ms: 5_000,
            request_head_timeout_ms: 10_000,
            request_body_timeout_ms: 10_000,
            send_timeout_ms: 10_000,
            max_requests_per_connection: 1000,
            max_connections: 0,
            max_body_memory_mib: 64,
        }
    }

    /// A warning to print at start-up about this configuration, if any.
    pub fn warning(&self) -> Option<String> {
        match &self.secret_key {
            Some(key) if key.len() < MIN_SECRET_BYTES => Some(format!(
                "WARNING: SECRET_KEY is only {} bytes; use at least {MIN_SECRET_BYTES} random \
                 bytes, or unset it to let taskapi generate one",
                key.len()
            )),
            _ => None,
        }
    }
}

/// The number of CPU cores available to this process (at least 1).
pub fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(1, |count| count.get())
}

/// Parses the arguments (without the program name) and the environment.
/// The error is a one-line message for the user.
pub fn parse(
    args: impl IntoIterator<Item = String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Command, String> {
    let mut args = args.into_iter().peekable();
    match args.peek().map(String::as_str) {
        Some("backup") => return parse_backup(args.skip(1), env),
        Some("healthcheck") => return parse_healthcheck(args.skip(1), env),
        _ => {}
    }
    let mut config = Config::defaults();

    // Environment first, so flags parsed afterwards override it.
    if let Some(addr) = env("TASKAPI_ADDR") {
        config.addr = addr;
    }
    if let Some(db) = env("TASKAPI_DB") {
        config.db = Database::parse(&db)?;
    }
    for setting in NUMBERS {
        let name = format!(
            "TASKAPI_{}",
            setting.flag.to_ascii_uppercase().replace('-', "_")
        );
        if let Some(value) = env(&name) {
            *setting.field(&mut config) = setting.parse(&value, &name)?;
        }
    }
    if let Some(url) = env("TASKAPI_DOCS_ASSETS_URL") {
        config.docs_assets_url = Some(url);
    }
    if let Some(format) = env("TASKAPI_LOG_FORMAT") {
        config.log_format = log_format(&format, "TASKAPI_LOG_FORMAT")?;
    }
    if let Some(addr) = env("TASKAPI_METRICS_ADDR") {
        config.metrics_addr = Some(addr);
    }
    if let Some(secret) = env("SECRET_KEY") {
        if secret.is_empty() {
            return Err("SECRET_KEY is set but empty; unset it or give at least 32 bytes".into());
        }
        config.secret_key = Some(secret.into_bytes());
    }

    while let Some(arg) = args.next() {
        let (flag, inline_value) = split_flag(arg);
        let mut value = || {
            inline_value
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value (see --help)"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--addr" => config.addr = value()?,
            "--db" => config.db = Database::parse(&value()?)?,
            "--docs-assets-url" => config.docs_assets_url = Some(value()?),
            "--no-docs" => config.docs_assets_url = None,
            "--log-format" => config.log_format = log_format(&value()?, &flag)?,
            "--metrics-addr" => config.metrics_addr = Some(value()?),
            _ => {
                let setting = NUMBERS
                    .iter()
                    .find(|setting| flag.strip_prefix("--") == Some(setting.flag))
                    .ok_or_else(|| format!("unknown argument {flag:?} (see --help)"))?;
                *setting.field(&mut config) = setting.parse(&value()?, &flag)?;
            }
        }
    }
    Ok(Command::Run(config))
}

fn log_format(value: &str, name: &str) -> Result<LogFormat, String> {
    LogFormat::named(value).ok_or_else(|| format!("{name} must be plain or json, not {value:?}"))
}

/// Accepts both `--flag value` and `--flag=value`: the flag, and its value
/// if it came inline.
fn split_flag(arg: String) -> (String, Option<String>) {
    match arg.split_once('=') {
        Some((flag, value)) if flag.starts_with("--") => (flag.to_owned(), Some(value.to_owned())),
        _ => (arg, None),
    }
}

/// `taskapi backup [--db PATH] OUT`, with `TASKAPI_DB` as the server reads
/// it.
fn parse_backup(
    mut args: impl Iterator<Item = String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Command, String> {
    let mut db = env("TASKAPI_DB").unwrap_or_else(|| DEFAULT_DB.to_owned());
    let mut out = None;
    while let Some(arg) = args.next() {
        let (flag, inline_value) = split_flag(arg);
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::BackupHelp),
            "--db" => {
                db = inline_value
                    .or_else(|| args.next())
                    .ok_or("backup: --db needs a value (see taskapi backup --help)")?;
            }
            _ if flag.starts_with('-') => {
                return Err(format!(
                    "backup: unknown argument {flag:?} (see taskapi backup --help)"
                ));
            }
            _ if out.is_some() => {
                return Err(format!(
                    "backup: one OUT file only, not also {flag:?} (see taskapi backup --help)"
                ));
            }
            _ => out = Some(PathBuf::from(flag)),
        }
    }
    let out = out.ok_or("backup: name the file to write: taskapi backup [--db PATH] OUT")?;
    let db = match Database::parse(&db) {
        Ok(Database::Sqlite(path)) => path,
        // A PostgreSQL URL, whether or not this build could serve it
        // (`Database::parse` refuses URLs only, in a build without
        // PostgreSQL). The URL is not repeated: it may hold a password.
        Ok(Database::Postgres(_)) | Err(_) => {
            return Err(
                "backup: --db is a PostgreSQL database, which this command does \
                        not copy; use pg_dump, e.g. \
                        `pg_dump --format=custom --file=taskapi.dump \"$TASKAPI_DB\"`"
                    .to_owned(),
            );
        }
    };
    Ok(Command::Backup { db, out })
}

/// `taskapi healthcheck [--addr HOST:PORT]`, with `TASKAPI_ADDR` as the
/// server reads it, so that the check asks where the server listens.
fn parse_healthcheck(
    mut args: impl Iterator<Item = String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Command, String> {
    let mut addr = env("TASKAPI_ADDR").unwrap_or_else(|| DEFAULT_ADDR.to_owned());
    while let Some(arg) = args.next() {
        let (flag, inline_value) = split_flag(arg);
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::HealthCheckHelp),
            "--addr" => {
                addr = inline_value
                    .or_else(|| args.next())
                    .ok_or("healthcheck: --addr needs a value (see taskapi healthcheck --help)")?;
            }
            _ => {
                return Err(format!(
                    "healthcheck: unknown argument {flag:?} (see taskapi healthcheck --help)"
                ));
            }
        }
    }
    Ok(Command::HealthCheck { addr })
}

/// A numeric setting: its flag (without `--`; the environment variable is
/// `TASKAPI_` and the flag in upper snake case), its range, and its field,
/// which holds the value times `scale` (seconds given, milliseconds kept).
struct NumberSetting {
    flag: &'static str,
    min: u64,
    max: u64,
    unit: &'static str,
    scale: u64,
    field: fn(&mut Config) -> &mut u64,
}

impl NumberSetting {
    fn field<'a>(&self, config: &'a mut Config) -> &'a mut u64 {
        (self.field)(config)
    }

    fn parse(&self, value: &str, name: &str) -> Result<u64, String> {
        match value.parse::<u64>() {
            Ok(number) if (self.min..=self.max).contains(&number) => Ok(number * self.scale),
            _ => Err(format!(
                "{name} must be a whole number of {} from {} to {}, not {value:?}",
                self.unit, self.min, self.max
            )),
        }
    }
}

/// Every numeric setting. The bounds keep values sane: a year of token
/// lifetime keeps `exp` far from overflow; 1024 workers is far past useful.
const NUMBERS: &[NumberSetting] = &[
    NumberSetting {
        flag: "workers",
        min: 1,
        max: 1024,
        unit: "threads",
        scale: 1,
        field: |config| &mut config.workers,
    },
    NumberSetting {
        flag: "token-ttl-minutes",
        min: 1,
        max: 525_600,
        unit: "minutes",
        scale: 1,
        field: |config| &mut config.token_ttl_minutes,
    },
    NumberSetting {
        flag: "login-max-failures",
        min: 1,
        max: 1_000_000,
        unit: "attempts",
        scale: 1,
        field: |config| &mut config.login_max_failures,
    },
    NumberSetting {
        flag: "login-max-failures-per-address",
        min: 1,
        max: 1_000_000,
        unit: "attempts",
        scale: 1,
        field: |config| &mut config.login_max_failures_per_address,
    },
    NumberSetting {
        flag: "login-window-seconds",
        min: 1,
        max: 86_400,
        unit: "seconds",
        scale: 1,
        field: |config| &mut config.login_window_seconds,
    },
    NumberSetting {
        flag: "keep-alive-timeout",
        min: 1,
        max: 3600,
        unit: "seconds",
        scale: 1000,
        field: |config| &mut config.keep_alive_timeout_ms,
    },
    NumberSetting {
        flag: "request-head-timeout",
        min: 1,
        max: 3600,
        unit: "seconds",
        scale: 1000,
        field: |config| &mut config.request_head_timeout_ms,
    },
    NumberSetting {
        flag: "request-body-timeout",
        min: 1,
        max: 3600,
        unit: "seconds",
        scale: 1000,
        field: |config| &mut config.request_body_timeout_ms,
    },
    NumberSetting {
        flag: "send-timeout",
        min: 1,
        max: 3600,
        unit: "seconds",
        scale: 1000,
        field: |config| &mut config.send_timeout_ms,
    },
    NumberSetting {
        flag: "max-requests-per-connection",
        min: 1,
        max: 1_000_000,
        unit: "requests",
        scale: 1,
        field: |config| &mut config.max_requests_per_connection,
    },
    NumberSetting {
        flag: "max-connections",
        min: 1,
        max: 10_000_000,
        unit: "connections",
        scale: 1,
        field: |config| &mut config.max_connections,
    },
    // At least 1 MiB: one body of the largest size must always fit.
    NumberSetting {
        flag: "max-body-memory",
        min: 1,
        max: 1 << 20,
        unit: "MiB",
        scale: 1,
        field: |config| &mut config.max_body_memory_mib,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_with(args: &[&str], env: &[(&str, &str)]) -> Result<Command, String> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(args.iter().map(|arg| arg.to_string()), |name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    fn config(args: &[&str], env: &[(&str, &str)]) -> Config {
        match parse_with(args, env) {
            Ok(Command::Run(config)) => config,
            other => panic!("expected a config, got {other:?}"),
        }
    }

    #[test]
    fn no_arguments_give_the_defaults() {
        assert_eq!(config(&[], &[]), Config::defaults());
        assert_eq!(Config::defaults().addr, "127.0.0.1:8000");
    }

    #[test]
    fn flags_override_the_environment() {
        let env = [("TASKAPI_ADDR", "0.0.0.0:9000"), ("TASKAPI_WORKERS", "3")];
        let config = config(
            &["--addr", "127.0.0.1:0", "--workers=5", "--db", "x.db"],
            &env,
        );
        assert_eq!(config.addr, "127.0.0.1:0");
        assert_eq!(config.workers, 5);
        assert_eq!(config.db, Database::Sqlite(PathBuf::from("x.db")));
    }

    #[test]
    fn the_log_format_and_the_metrics_address_come_from_flags_or_the_environment() {
        let defaults = config(&[], &[]);
        assert_eq!(defaults.log_format, LogFormat::Plain);
        assert_eq!(defaults.metrics_addr, None);
        let env = [
            ("TASKAPI_LOG_FORMAT", "json"),
            ("TASKAPI_METRICS_ADDR", "127.0.0.1:9100"),
        ];
        let from_env = config(&[], &env);
        assert_eq!(from_env.log_format, LogFormat::Json);
        assert_eq!(from_env.metrics_addr.as_deref(), Some("127.0.0.1:9100"));
        let flags = config(
            &["--log-format=plain", "--metrics-addr", "[::1]:9101"],
            &env,
        );
        assert_eq!(flags.log_format, LogFormat::Plain);
        assert_eq!(flags.metrics_addr.as_deref(), Some("[::1]:9101"));
        let error = parse_with(&["--log-format", "xml"], &[]).unwrap_err();
        assert!(error.contains("plain or json"), "{error}");
    }

    #[test]
    fn login_limits_come_from_flags_or_the_environment() {
        let config = config(
            &["--login-max-failures", "3", "--login-window-seconds=60"],
            &[
                ("TASKAPI_LOGIN_MAX_FAILURES_PER_ADDRESS", "20"),
                ("TASKAPI_LOGIN_MAX_FAILURES", "9"),
            ],
        );
        assert_eq!(config.login_max_failures, 3);
        assert_eq!(config.login_max_failures_per_address, 20);
        assert_eq!(config.login_window_seconds, 60);
        assert!(parse_with(&["--login-window-seconds", "0"], &[]).is_err());
    }

    #[test]
    fn connection_timeouts_are_given_in_seconds_and_kept_in_milliseconds() {
        let config = config(
            &["--keep-alive-timeout", "2", "--max-connections=100"],
            &[("TASKAPI_REQUEST_HEAD_TIMEOUT", "3")],
        );
        assert_eq!(config.keep_alive_timeout_ms, 2_000);
        assert_eq!(config.request_head_timeout_ms, 3_000);
        assert_eq!(config.request_body_timeout_ms, 10_000);
        assert_eq!(config.max_connections, 100);
        assert!(parse_with(&["--keep-alive-timeout", "0"], &[]).is_err());
    }

    #[test]
    fn bad_values_and_unknown_flags_are_errors() {
        assert!(parse_with(&["--workers", "0"], &[]).is_err());
        assert!(parse_with(&["--workers", "many"], &[]).is_err());
        assert!(parse_with(&["--token-ttl-minutes", "-5"], &[]).is_err());
        assert!(parse_with(&["--port", "80"], &[]).is_err());
        assert!(parse_with(&["--addr"], &[]).is_err());
        assert!(parse_with(&[], &[("SECRET_KEY", "")]).is_err());
        assert!(parse_with(&[], &[("TASKAPI_WORKERS", "-1")]).is_err());
    }

    #[test]
    fn backup_takes_its_database_from_the_flag_the_environment_or_the_default() {
        let backup = |db: &str, out: &str| {
            Ok(Command::Backup {
                db: PathBuf::from(db),
                out: PathBuf::from(out),
            })
        };
        assert_eq!(
            parse_with(&["backup", "b.db"], &[]),
            backup("taskapi.db", "b.db")
        );
        let env = [("TASKAPI_DB", "/data/live.db")];
        assert_eq!(
            parse_with(&["backup", "b.db"], &env),
            backup("/data/live.db", "b.db")
        );
        assert_eq!(
            parse_with(&["backup", "--db=x.db", "b.db"], &env),
            backup("x.db", "b.db")
        );
        assert_eq!(
            parse_with(&["backup", "b.db", "--db", "x.db"], &env),
            backup("x.db", "b.db")
        );
    }

    #[test]
    fn backup_ignores_the_servers_other_settings() {
        let env = [("TASKAPI_WORKERS", "many"), ("SECRET_KEY", "")];
        assert!(matches!(
            parse_with(&["backup", "b.db"], &env),
            Ok(Command::Backup { .. })
        ));
    }

    #[test]
    fn backup_needs_exactly_one_out_file_and_no_other_flags() {
        for args in [
            &["backup"][..],
            &["backup", "a.db", "b.db"],
            &["backup", "--workers", "2", "b.db"],
            &["backup", "b.db", "--db"],
        ] {
            let error = parse_with(args, &[]).unwrap_err();
            assert!(error.starts_with("backup: "), "{args:?}: {error}");
        }
    }

    #[test]
    fn backup_of_a_postgresql_url_is_refused_with_a_pointer_to_pg_dump() {
        for (args, env) in [
            (
                &["backup", "--db", "postgres://u:secret@db/taskapi", "b"][..],
                &[][..],
            ),
            (
                &["backup", "b"],
                &[("TASKAPI_DB", "POSTGRESQL://u:secret@db/x")][..],
            ),
        ] {
            let error = parse_with(args, env).unwrap_err();
            assert!(error.contains("pg_dump --format=custom"), "{error}");
            assert!(!error.contains("secret"), "{error}");
        }
    }

    #[test]
    fn healthcheck_asks_where_the_server_listens() {
        let check = |addr: &str| {
            Ok(Command::HealthCheck {
                addr: addr.to_owned(),
            })
        };
        assert_eq!(parse_with(&["healthcheck"], &[]), check("127.0.0.1:8000"));
        let env = [("TASKAPI_ADDR", "0.0.0.0:8000"), ("TASKAPI_WORKERS", "x")];
        assert_eq!(parse_with(&["healthcheck"], &env), check("0.0.0.0:8000"));
        assert_eq!(
            parse_with(&["healthcheck", "--addr", "[::1]:9"], &env),
            check("[::1]:9")
        );
        assert!(parse_with(&["healthcheck", "--addr"], &[]).is_err());
        assert!(parse_with(&["healthcheck", "extra"], &[]).is_err());
    }

    #[test]
    fn each_command_has_its_own_help() {
        assert_eq!(
            parse_with(&["backup", "--help"], &[]),
            Ok(Command::BackupHelp)
        );
        assert_eq!(
            parse_with(&["backup", "b", "-h"], &[]),
            Ok(Command::BackupHelp)
        );
        assert_eq!(
            parse_with(&["healthcheck", "-h"], &[]),
            Ok(Command::HealthCheckHelp)
        );
        assert_eq!(parse_with(&["--help"], &[]), Ok(Command::Help));
        for text in ["taskapi backup [--db PATH] OUT", "taskapi healthcheck"] {
            assert!(HELP.contains(text), "--help lacks {text}");
        }
    }

    #[test]
    fn a_short_secret_starts_with_a_warning() {
        let short = config(&[], &[("SECRET_KEY", "tooshort")]);
        assert!(short.warning().unwrap().contains("only 8 bytes"));
        let long = config(&[], &[("SECRET_KEY", &"k".repeat(32))]);
        assert_eq!(long.warning(), None);
    }
}
