//! A spawned server process: signals, bounded waits, and a kill that never leaves it behind.

use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::TestkitError;

/// How often a wait polls the process.
const POLL: Duration = Duration::from_millis(20);

pub(crate) struct Process {
    child: Child,
}

impl Process {
    pub(crate) fn spawn(command: &mut Command, what: &str) -> Result<Process, TestkitError> {
        let child = command
            .stdin(Stdio::null())
            .spawn()
            .map_err(TestkitError::io(format!("starting {what}")))?;
        Ok(Process { child })
    }

    /// The exit status if the process has exited (reaping it).
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Sends `signal` (a name `kill -s` knows, e.g. `INT`) through the `kill` utility: the
    /// workspace forbids `unsafe`, so no `libc::kill`.
    pub(crate) fn signal(&mut self, signal: &str) {
        if self.exited().is_some() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-s", signal, &self.child.id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// Waits up to `timeout` for the process to exit; `true` if it did.
    pub(crate) fn wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.exited().is_some() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(POLL);
        }
    }

    /// Asks politely with `signal`, then SIGKILLs after `grace`; always reaps the process.
    pub(crate) fn stop(&mut self, signal: &str, grace: Duration) {
        self.signal(signal);
        if !self.wait_exit(grace) {
            self.kill();
        }
    }

    /// SIGKILL and reap.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.exited().is_none() {
            self.kill();
        }
    }
}
