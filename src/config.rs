//! Settings from command-line flags and environment variables.
//!
//! Every setting has a default that serves, so `taskapi` with no arguments
//! runs. A flag overrides its environment variable. Parsing is a pure
//! function of the arguments and an environment lookup, so it is unit-tested
//! without touching the real process environment.

use std::path::PathBuf;

use crate::api::docs::DEFAULT_ASSETS_URL as DEFAULT_DOCS_ASSETS_URL;
use crate::store::Database;

/// The help text of `taskapi --help`.
pub const HELP: &str = "\
taskapi: a task-management REST API server

Usage: taskapi [OPTIONS]

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
                              default https://cdn.jsdelivr.net/npm/swagger-ui-dist@5]
  --no-docs                   serve neither /docs nor /openapi.json

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
";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Run(Config),
    Help,
    Version,
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
            addr: "127.0.0.1:8000".to_owned(),
            db: Database::Sqlite(PathBuf::from("taskapi.db")),
            workers: 4 * cpu_count() as u64,
            token_ttl_minutes: 30,
            login_max_failures: 5,
            login_max_failures_per_address: 50,
            login_window_seconds: 15 * 60,
            docs_assets_url: Some(DEFAULT_DOCS_ASSETS_URL.to_owned()),
            secret_key: None,
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
    if let Some(secret) = env("SECRET_KEY") {
        if secret.is_empty() {
            return Err("SECRET_KEY is set but empty; unset it or give at least 32 bytes".into());
        }
        config.secret_key = Some(secret.into_bytes());
    }

    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline_value) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
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
    fn a_short_secret_starts_with_a_warning() {
        let short = config(&[], &[("SECRET_KEY", "tooshort")]);
        assert!(short.warning().unwrap().contains("only 8 bytes"));
        let long = config(&[], &[("SECRET_KEY", &"k".repeat(32))]);
        assert_eq!(long.warning(), None);
    }
}
