//! The real `apim` binary as a child process: reads the bound addresses it prints, collects its log, and
//! stops it with SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Node {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Node {
    /// Starts `bin args...` in `cwd`.
    pub fn spawn(bin: &Path, args: &[&str], cwd: &Path) -> Node {
        Node::spawn_with_env(bin, args, cwd, &[])
    }

    /// [`Node::spawn`] with these environment variables set too.
    pub fn spawn_with_env(bin: &Path, args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Node {
        let mut child = Command::new(bin)
            .args(args)
            .current_dir(cwd)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn apim");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        if let Some(out) = child.stdout.take() {
            let sink = stdout.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if let Ok(mut v) = sink.lock() {
                        v.push(line);
                    }
                }
            });
        }
        if let Some(err) = child.stderr.take() {
            let sink = stderr.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    if let Ok(mut v) = sink.lock() {
                        v.push(line);
                    }
                }
            });
        }
        Node { child, stdout, stderr }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `(VmRSS, VmHWM)` of the process in KiB: current and peak resident memory.
    pub fn memory_kib(&self) -> Option<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let field = |name: &str| status.lines().find(|l| l.starts_with(name))?.split_whitespace().nth(1)?.parse().ok();
        Some((field("VmRSS:")?, field("VmHWM:")?))
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|v| v.join("\n")).unwrap_or_default()
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().map(|v| v.join("\n")).unwrap_or_default()
    }

    /// The URL printed for a listener (`management-https`, `management-http`), waiting up to `timeout`.
    pub fn url(&mut self, listener: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let prefix = format!("listening {listener} ");
        loop {
            let found = self
                .stdout
                .lock()
                .ok()
                .and_then(|v| v.iter().find_map(|l| l.strip_prefix(&prefix).map(|u| u.replace("0.0.0.0", "127.0.0.1"))));
            if let Some(u) = found {
                return u;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("apim exited ({status}) before listening:\n{}", self.stderr());
            }
            assert!(Instant::now() < deadline, "apim did not print `{prefix}` within {timeout:?}:\n{}", self.stderr());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                // Give the reader threads a moment to drain the pipes.
                std::thread::sleep(Duration::from_millis(50));
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Sends a signal by name (`STOP` freezes the process with its sockets open, as a hung peer; `CONT` resumes it).
    pub fn signal(&self, name: &str) {
        let _ = Command::new("kill").arg(format!("-{name}")).arg(self.child.id().to_string()).status();
    }

    /// Sends SIGTERM and returns the exit status and how long the exit took.
    pub fn terminate(&mut self) -> (Option<ExitStatus>, Duration) {
        let start = Instant::now();
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let status = self.wait_exit(Duration::from_secs(15));
        (status, start.elapsed())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.is_running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// An offset such that every given base port + offset is free on 127.0.0.1 right now, and below the kernel's
/// ephemeral range (32768 and up), where ports bound to 0 and outgoing connections could take it before the node
/// binds it. Each port is also claimed for a minute with a file in the temporary directory, so tests starting
/// nodes at the same moment in other processes (nextest runs each test in its own) never pick the same port in
/// the moment between this check and the node's bind.
pub fn free_offset(base_ports: &[u16]) -> u16 {
    let highest = base_ports.iter().copied().max().unwrap_or(0);
    let span = 32_767u16.saturating_sub(highest).saturating_sub(10_000).max(1);
    for _ in 0..200 {
        let offset = 10_000 + (uuid::Uuid::new_v4().as_u128() % u128::from(span)) as u16;
        let ports: Option<Vec<u16>> = base_ports.iter().map(|p| p.checked_add(offset)).collect();
        let Some(ports) = ports else { continue };
        if ports.iter().all(|port| std::net::TcpListener::bind(("0.0.0.0", *port)).is_ok()) && ports.iter().all(|p| claim(*p)) {
            return offset;
        }
    }
    panic!("no free port offset found");
}

/// How long a port claimed by [`free_offset`] stays another test's: time enough for a node to bind it.
const CLAIM_FOR: Duration = Duration::from_secs(60);

/// Claims `port` for [`CLAIM_FOR`]; false when another test claimed it less than that ago. A port a test gave up on
/// after claiming some of its set stays claimed until it expires: harmless, there are thousands.
fn claim(port: u16) -> bool {
    let dir = std::env::temp_dir().join("apim-test-ports");
    if std::fs::create_dir_all(&dir).is_err() {
        return true;
    }
    let file = dir.join(port.to_string());
    let fresh =
        |f: &std::path::Path| std::fs::metadata(f).and_then(|m| m.modified()).is_ok_and(|t| t.elapsed().is_ok_and(|age| age < CLAIM_FOR));
    if fresh(&file) {
        return false;
    }
    // An expired claim goes; `create_new` lets one of two claimants racing for the port win (one that removes a
    // claim made between its two looks could still double it: a window of microseconds, once a minute at most).
    if file.exists() && !fresh(&file) {
        let _ = std::fs::remove_file(&file);
    }
    std::fs::OpenOptions::new().write(true).create_new(true).open(&file).is_ok()
}
