//! Real servers for tests: [`RedisServer`] and [`PostgresServer`] start the system's
//! `redis-server` and PostgreSQL binaries on free loopback ports, in private temp dirs, and
//! kill them on drop.
//!
//! Tests of the cluster backends (Redis streams, PostgreSQL stores) must exercise the real
//! servers, outages included: a mock would not reproduce consumer-group bookkeeping, `LOADING`
//! after a restart or dropped connections. Each server is private to one test (own port, own
//! directory), so tests run in parallel without sharing state.
//!
//! The API is blocking (plain `std::process` and sockets): it works from sync tests and from
//! `#[tokio::test]` bodies alike, and keeps client libraries out of this crate. The binaries
//! are looked up on `PATH`, then under `/usr/lib/postgresql/*/bin` (Debian installs the
//! PostgreSQL server there, off `PATH`); `scripts/test.sh` installs them through apt when
//! missing.

mod postgres;
mod process;
mod redis;

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

pub use postgres::PostgresServer;
pub use redis::RedisServer;

/// Why a test server could not be started, stopped or used.
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    #[error(
        "`{0}` not found on PATH or under /usr/lib/postgresql/*/bin; \
         install it (scripts/test.sh does, through apt)"
    )]
    BinaryNotFound(&'static str),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{program}` failed ({status}): {output}")]
    Command {
        program: String,
        status: ExitStatus,
        output: String,
    },
    #[error("{server} exited while starting ({status}); its log ends with:\n{log}")]
    Exited {
        server: &'static str,
        status: ExitStatus,
        log: String,
    },
    #[error("{server} was not ready after {waited:?}; its log ends with:\n{log}")]
    NotReady {
        server: &'static str,
        waited: Duration,
        log: String,
    },
    #[error("user `{0}` not found in /etc/passwd (PostgreSQL refuses to run as root)")]
    NoSuchUser(String),
    #[error("invalid database name {0:?}: use ASCII letters, digits and underscores")]
    InvalidName(String),
}

impl TestkitError {
    fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> TestkitError {
        let what = what.into();
        move |source| TestkitError::Io { what, source }
    }
}

/// A port on 127.0.0.1 that was free a moment ago. The listener is closed before the server
/// binds it, so another process could take it in between: the servers retry with a new port
/// when theirs exits at startup.
fn free_port() -> Result<u16, TestkitError> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(TestkitError::io("binding a free loopback port"))?;
    let address = listener
        .local_addr()
        .map_err(TestkitError::io("reading the free port"))?;
    Ok(address.port())
}

/// `name` on `PATH`, else in the newest `/usr/lib/postgresql/*/bin`, else in the usual system
/// dirs (a test runner's `PATH` may lack `/usr/sbin`).
fn find_binary(name: &'static str) -> Result<PathBuf, TestkitError> {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    let mut postgres_dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    // Newest major version first: "17" > "15" numerically, not "9.6" > "15" as strings.
    postgres_dirs.sort_by_key(|dir| {
        std::cmp::Reverse(
            dir.parent()
                .and_then(|version| version.file_name())
                .and_then(|version| version.to_str())
                .and_then(|version| version.split('.').next())
                .and_then(|major| major.parse::<u32>().ok())
                .unwrap_or(0),
        )
    });
    let fallback = ["/usr/bin", "/usr/sbin", "/usr/local/bin"].map(PathBuf::from);
    on_path
        .into_iter()
        .chain(postgres_dirs)
        .chain(fallback)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or(TestkitError::BinaryNotFound(name))
}

/// The last lines of a server's log file, for error messages.
fn log_tail(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
