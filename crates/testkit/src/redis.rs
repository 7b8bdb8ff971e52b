//! `redis-server` on a free loopback port.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::process::Process;
use crate::{TestkitError, find_binary, free_port, log_tail};

/// How long a (re)start may take before it is reported as a failure.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How many ports to try when the chosen one was taken before the server bound it.
const PORT_ATTEMPTS: usize = 3;

/// A private `redis-server`: 127.0.0.1 on a free port, its working dir a temp dir, no
/// background persistence (`--save "" --appendonly no`). Killed on drop.
///
/// [`stop`](Self::stop) shuts it down with `SHUTDOWN SAVE`, so a later
/// [`restart`](Self::restart) comes back with the same data, the way a production Redis with
/// persistence does; [`kill`](Self::kill) is a crash that loses everything.
pub struct RedisServer {
    binary: PathBuf,
    port: u16,
    // Declared before `dir`: the process dies before its directory is removed.
    process: Option<Process>,
    dir: TempDir,
}

impl RedisServer {
    /// Starts a server and waits until it answers `PING`.
    pub fn start() -> Result<RedisServer, TestkitError> {
        let binary = find_binary("redis-server")?;
        let dir = tempfile::Builder::new()
            .prefix("ultra-redis-")
            .tempdir()
            .map_err(TestkitError::io("creating the Redis temp dir"))?;
        let mut server = RedisServer {
            binary,
            port: 0,
            process: None,
            dir,
        };
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
        Err(last_error.unwrap_or(TestkitError::BinaryNotFound("redis-server")))
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the process is running (it may still be loading).
    pub fn is_running(&mut self) -> bool {
        self.process
            .as_mut()
            .is_some_and(|process| process.exited().is_none())
    }

    /// Shuts the server down, saving its dataset into the temp dir (`SHUTDOWN SAVE`), and
    /// waits for the process to exit. Clients see connections drop and refusals until
    /// [`restart`](Self::restart). A no-op when already stopped.
    pub fn stop(&mut self) {
        let Some(mut process) = self.process.take() else {
            return;
        };
        if process.exited().is_none() {
            // The reply never comes (the server exits), so only the write matters.
            let _ = self.send_line("SHUTDOWN SAVE", Duration::from_millis(500));
            if !process.wait_exit(Duration::from_secs(10)) {
                process.kill();
            }
        }
    }

    /// Crashes the server (SIGKILL) and throws its saved dataset away: a restart comes back
    /// empty, as a Redis without persistence does.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
        let _ = std::fs::remove_file(self.dump_path());
    }

    /// Stops the server if running (keeping its data, see [`stop`](Self::stop)) and starts it
    /// again on the same port, waiting until it answers `PING`.
    pub fn restart(&mut self) -> Result<(), TestkitError> {
        self.stop();
        self.launch()
    }

    fn dump_path(&self) -> PathBuf {
        self.dir.path().join("dump.rdb")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    fn launch(&mut self) -> Result<(), TestkitError> {
        let mut command = Command::new(&self.binary);
        command
            .arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no", "--dbfilename", "dump.rdb"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(self.log_path())
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut process = Process::spawn(&mut command, "redis-server")?;
        let started = Instant::now();
        loop {
            if let Some(status) = process.exited() {
                return Err(TestkitError::Exited {
                    server: "redis-server",
                    status,
                    log: log_tail(&self.log_path()),
                });
            }
            if self.pong() {
                self.process = Some(process);
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                process.kill();
                return Err(TestkitError::NotReady {
                    server: "redis-server",
                    waited: READY_TIMEOUT,
                    log: log_tail(&self.log_path()),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `true` once the server answers `PING` with `+PONG` (not `-LOADING` after a restart).
    fn pong(&self) -> bool {
        self.send_line("PING", Duration::from_millis(500))
            .is_ok_and(|reply| reply.starts_with("+PONG"))
    }

    /// Sends one inline command and reads the first line of the reply.
    fn send_line(&self, command: &str, timeout: Duration) -> std::io::Result<String> {
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut stream = TcpStream::connect_timeout(&address, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.write_all(format!("{command}\r\n").as_bytes())?;
        let mut reply = String::new();
        BufReader::new(stream).read_line(&mut reply)?;
        Ok(reply)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }
}
