//! A PostgreSQL cluster initialised in a temp dir, on a free loopback port.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::process::Process;
use crate::{TestkitError, find_binary, free_port, log_tail};

/// How long a (re)start may take before it is reported as a failure.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How many ports to try when the chosen one was taken before the server bound it.
const PORT_ATTEMPTS: usize = 3;
/// The superuser `initdb` creates; the URLs connect as it (trust authentication).
const SUPERUSER: &str = "postgres";

/// A private PostgreSQL server: `initdb` into a temp dir with trust authentication, then
/// `postgres` listening on 127.0.0.1 only, its Unix socket in the temp dir (never in
/// `/var/run/postgresql`, which another server may own), durability off for speed. Killed on
/// drop.
///
/// PostgreSQL refuses to run as root, and tests here run as root: then `initdb` and
/// `postgres` run as the `postgres` system user (set as the child's uid, no `su` in between,
/// so the pid we hold is the postmaster's own) and the temp dir is handed to that user.
pub struct PostgresServer {
    bin: PathBuf,
    port: u16,
    run_as: Option<(u32, u32)>,
    // Declared before `dir`: the process dies before its directory is removed.
    process: Option<Process>,
    dir: TempDir,
}

impl PostgresServer {
    /// Initialises a cluster and starts it, waiting until it accepts connections.
    pub fn start() -> Result<PostgresServer, TestkitError> {
        let initdb = find_binary("initdb")?;
        let bin = initdb
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/usr/bin"));
        let dir = tempfile::Builder::new()
            .prefix("ultra-postgres-")
            .tempdir()
            .map_err(TestkitError::io("creating the PostgreSQL temp dir"))?;
        let run_as = if running_as_root()? {
            let (uid, gid) = system_user(SUPERUSER)?;
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).map_err(
                TestkitError::io("handing the temp dir to the postgres user"),
            )?;
            Some((uid, gid))
        } else {
            None
        };
        let mut server = PostgresServer {
            bin,
            port: 0,
            run_as,
            process: None,
            dir,
        };
        let mut initdb = server.command(&initdb);
        initdb
            .arg("-D")
            .arg(server.data_dir())
            .args(["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C"])
            .arg("--no-sync");
        run(&mut initdb, "initdb")?;
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            server.port = free_port()?;
            match server.launch() {
                Ok(()) => return Ok(server),
                // Most likely the port was taken in the meantime: try another.
                Err(error @ TestkitError::Exited { .. }) => last_error = Some(error),
                Err(error) => return Err(error),
            }
        }
        Err(last_error.unwrap_or(TestkitError::BinaryNotFound("postgres")))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://postgres@127.0.0.1:PORT/DATABASE`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates database `name` (ASCII letters, digits, underscores) and returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String, TestkitError> {
        if name.is_empty()
            || !name
                .chars()
                .all(|character| character.is_ascii_alphanumeric() || character == '_')
        {
            return Err(TestkitError::InvalidName(name.to_owned()));
        }
        let createdb = self.tool("createdb")?;
        let mut command = Command::new(createdb);
        command
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                SUPERUSER,
            ])
            .arg(name)
            .current_dir(self.dir.path());
        run(&mut command, "createdb")?;
        Ok(self.url(name))
    }

    /// Whether the postmaster is running.
    pub fn is_running(&mut self) -> bool {
        self.process
            .as_mut()
            .is_some_and(|process| process.exited().is_none())
    }

    /// Fast shutdown (SIGINT: sessions are disconnected, data is kept), waiting for the
    /// process to exit. A no-op when already stopped.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.stop("INT", Duration::from_secs(15));
        }
    }

    /// Stops the server if running and starts it again on the same port and data.
    pub fn restart(&mut self) -> Result<(), TestkitError> {
        self.stop();
        self.launch()
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// A tool of the same installation (`pg_isready`, `createdb`), else one on `PATH`.
    fn tool(&self, name: &'static str) -> Result<PathBuf, TestkitError> {
        let sibling = self.bin.join(name);
        if sibling.is_file() {
            Ok(sibling)
        } else {
            find_binary(name)
        }
    }

    /// A command run as the server's owner, in the temp dir (the caller's working dir may
    /// not be readable by the `postgres` user).
    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command.current_dir(self.dir.path());
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid).gid(gid);
        }
        command
    }

    fn launch(&mut self) -> Result<(), TestkitError> {
        let log = std::fs::File::create(self.log_path())
            .map_err(TestkitError::io("creating the PostgreSQL log"))?;
        let log_err = log
            .try_clone()
            .map_err(TestkitError::io("sharing the PostgreSQL log"))?;
        let postgres = self.tool("postgres")?;
        let mut command = self.command(&postgres);
        command
            .arg("-D")
            .arg(self.data_dir())
            .args(["-p", &self.port.to_string()])
            .arg("-k")
            .arg(self.dir.path())
            .args(["-c", "listen_addresses=127.0.0.1"])
            // Throwaway data: durability only costs time.
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off"])
            .stdout(log)
            .stderr(log_err);
        let mut process = Process::spawn(&mut command, "postgres")?;
        let pg_isready = self.tool("pg_isready")?;
        let started = Instant::now();
        loop {
            if let Some(status) = process.exited() {
                return Err(TestkitError::Exited {
                    server: "postgres",
                    status,
                    log: log_tail(&self.log_path()),
                });
            }
            let ready = Command::new(&pg_isready)
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
                .args(["-U", SUPERUSER, "-d", "postgres", "-t", "1"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            if ready {
                self.process = Some(process);
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                process.kill();
                return Err(TestkitError::NotReady {
                    server: "postgres",
                    waited: READY_TIMEOUT,
                    log: log_tail(&self.log_path()),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        // Immediate shutdown: the postmaster takes its backends down with it (a SIGKILLed
        // postmaster would leave them to notice on their own).
        if let Some(mut process) = self.process.take() {
            process.stop("QUIT", Duration::from_secs(5));
        }
    }
}

/// Runs a setup command to completion, its output captured for the error.
fn run(command: &mut Command, program: &str) -> Result<(), TestkitError> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(TestkitError::io(format!("running {program}")))?;
    if output.status.success() {
        return Ok(());
    }
    Err(TestkitError::Command {
        program: program.to_owned(),
        status: output.status,
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    })
}

/// The effective uid of this process is the owner of `/proc/self` (no `libc::geteuid`: the
/// workspace forbids `unsafe`).
fn running_as_root() -> Result<bool, TestkitError> {
    let metadata = std::fs::metadata("/proc/self")
        .map_err(TestkitError::io("reading /proc/self to learn the uid"))?;
    Ok(metadata.uid() == 0)
}

/// The uid and gid of system user `name`, from `/etc/passwd`.
fn system_user(name: &str) -> Result<(u32, u32), TestkitError> {
    let passwd =
        std::fs::read_to_string("/etc/passwd").map_err(TestkitError::io("reading /etc/passwd"))?;
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&name))
        .and_then(|fields| {
            let uid = fields.get(2)?.parse().ok()?;
            let gid = fields.get(3)?.parse().ok()?;
            Some((uid, gid))
        })
        .ok_or_else(|| TestkitError::NoSuchUser(name.to_owned()))
}
