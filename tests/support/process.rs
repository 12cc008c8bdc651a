//! Finding and running the real `flowmeter` and `mediator` binaries.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use super::paths::repo;

/// `v` as a `String` argument.
pub fn s<T: AsRef<std::ffi::OsStr> + ?Sized>(v: &T) -> String {
    v.as_ref().to_string_lossy().into_owned()
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                repo().join(d)
            }
        }
        _ => repo().join("target"),
    }
}

/// The workspace's binaries, built together.
const BINARIES: [&str; 2] = ["flowmeter", "mediator"];
/// Crates whose sources the binaries are built from.
const SOURCES: [&str; 3] = ["flowmeter", "mediator", "ipfix-model"];

static BUILT: Mutex<Option<Result<PathBuf, String>>> = Mutex::new(None);

/// Path of the workspace's debug binary `name` (`flowmeter` or `mediator`), building both
/// once per test process when either is missing or older than its sources, so a test never
/// runs a stale binary. For tests outside the binary's own package (a package cannot depend
/// on another's binaries); a crate's own tests use `env!("CARGO_BIN_EXE_<name>")`.
pub fn workspace_bin(name: &str) -> PathBuf {
    assert!(BINARIES.contains(&name), "not a workspace binary: {name}");
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let r = built.get_or_insert_with(build_binaries);
    match r {
        Ok(d) => d.join(name),
        Err(e) => panic!("the flowmeter/mediator binaries are needed: {e}"),
    }
}

fn build_binaries() -> Result<PathBuf, String> {
    let dir = target_dir().join("debug");
    let have = |n: &str| dir.join(n).is_file();
    let oldest_binary = BINARIES
        .iter()
        .filter_map(|n| {
            std::fs::metadata(dir.join(n))
                .and_then(|m| m.modified())
                .ok()
        })
        .min();
    let mut newest_source = None;
    for c in SOURCES {
        let c = repo().join("crates").join(c);
        newest_mtime(&c.join("src"), &mut newest_source);
        newest_mtime(&c.join("Cargo.toml"), &mut newest_source);
    }
    if BINARIES.iter().all(|n| have(n)) && oldest_binary >= newest_source {
        return Ok(dir);
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(repo()).arg("build");
    for b in BINARIES {
        cmd.args(["-p", b]);
    }
    let out = cmd
        .output()
        .map_err(|e| format!("running cargo build: {e}"))?;
    if !out.status.success() || !BINARIES.iter().all(|n| have(n)) {
        return Err(format!(
            "`cargo build -p flowmeter -p mediator` failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(dir)
}

fn newest_mtime(p: &Path, newest: &mut Option<std::time::SystemTime>) {
    let Ok(meta) = std::fs::metadata(p) else {
        return;
    };
    if meta.is_dir() {
        for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
            newest_mtime(&e.path(), newest);
        }
    } else if let Ok(t) = meta.modified() {
        *newest = (*newest).max(Some(t));
    }
}

/// Runs `bin ARGS` to completion (stdin closed, `RUST_LOG=info` unless set); prints its stderr
/// when it fails, for the test log.
pub fn run(bin: &Path, args: &[String]) -> Output {
    let mut cmd = Command::new(bin);
    cmd.args(args).stdin(Stdio::null());
    if std::env::var_os("RUST_LOG").is_none() {
        cmd.env("RUST_LOG", "info");
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", bin.display()));
    if !out.status.success() {
        eprintln!(
            "{} {args:?} failed ({}): {}",
            bin.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// [`run`], panicking with both outputs unless it succeeds.
pub fn run_ok(bin: &Path, args: &[String]) -> Output {
    let out = run(bin, args);
    assert!(
        out.status.success(),
        "{} {args:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        bin.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// What the flowmeter says it did (its summary line on stderr).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FlowmeterSummary {
    pub packets: u64,
    pub flows: u64,
    pub dns_records: u64,
}

/// Parses "flowmeter: 136 packets (10 ignored, 0 dropped), 34 flows, 91 DNS records" out of
/// the flowmeter's stderr.
pub fn flowmeter_summary(stderr: &str) -> FlowmeterSummary {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("flowmeter: ") && l.contains(" flows, "))
        .unwrap_or_else(|| panic!("no summary line from flowmeter:\n{stderr}"));
    let num_before = |word: &str| -> u64 {
        let i = line
            .find(word)
            .unwrap_or_else(|| panic!("{word:?} in {line:?}"));
        line[..i]
            .split(|c: char| !c.is_ascii_digit())
            .rfind(|s| !s.is_empty())
            .unwrap()
            .parse()
            .unwrap()
    };
    FlowmeterSummary {
        packets: num_before(" packets"),
        flows: num_before(" flows"),
        dns_records: num_before(" DNS records"),
    }
}

/// Sends SIGTERM to process `pid`.
pub fn sigterm(pid: u32) {
    let st = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success(), "kill -TERM {pid} failed");
}

/// A long-running binary (`mediator run`, `flowmeter --live`): stderr goes to a log file, the
/// "listening tcp|udp|metrics ADDR" lines it prints on stdout are collected. Killed when
/// dropped.
pub struct Daemon {
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    /// Addresses from the "listening ..." lines seen so far.
    pub tcp: Option<SocketAddr>,
    pub udp: Option<SocketAddr>,
    pub metrics: Option<SocketAddr>,
    /// `tcp`'s port, 0 until known.
    pub port: u16,
    log: PathBuf,
}

impl Daemon {
    /// Starts `bin ARGS` and waits for the listeners the arguments ask for: TCP when
    /// `--in-port` or `--in-host` is given, UDP with `--udp`, metrics with `--metrics-addr`
    /// (or `--metrics-listen`).
    pub fn start(bin: &Path, args: &[String], log: &Path) -> Daemon {
        let has = |f: &str| args.iter().any(|a| a == f);
        let mut want = Vec::new();
        if has("--in-port") || has("--in-host") {
            want.push("tcp");
        }
        if has("--udp") {
            want.push("udp");
        }
        if has("--metrics-addr") || has("--metrics-listen") {
            want.push("metrics");
        }
        let mut d = Daemon::spawn(bin, args, log);
        d.wait_listening(&want, Duration::from_secs(30));
        d
    }

    /// Starts `bin ARGS` without waiting for anything.
    pub fn spawn(bin: &Path, args: &[String], log: &Path) -> Daemon {
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap());
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", bin.display()));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        // Keeps reading stdout to the end so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Daemon {
            child: Some(child),
            lines: rx,
            tcp: None,
            udp: None,
            metrics: None,
            port: 0,
            log: log.to_path_buf(),
        }
    }

    /// Waits until a "listening WHAT ADDR" line was seen for each of `what`.
    pub fn wait_listening(&mut self, what: &[&str], timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let missing = |d: &Daemon| {
            what.iter().any(|w| match *w {
                "tcp" => d.tcp.is_none(),
                "udp" => d.udp.is_none(),
                "metrics" => d.metrics.is_none(),
                other => panic!("unknown listener kind {other}"),
            })
        };
        while missing(self) {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(l) => l,
                Err(_) => panic!(
                    "no \"listening\" line for all of {what:?} (exited: {:?}); log:\n{}",
                    self.try_status(),
                    self.log_text()
                ),
            };
            let addr = |rest: &str| rest.trim().parse::<SocketAddr>().ok();
            if let Some(a) = line.strip_prefix("listening tcp ").and_then(addr) {
                self.tcp = Some(a);
                self.port = a.port();
            } else if let Some(a) = line.strip_prefix("listening udp ").and_then(addr) {
                self.udp = Some(a);
            } else if let Some(a) = line.strip_prefix("listening metrics ").and_then(addr) {
                self.metrics = Some(a);
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn try_status(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Sends SIGTERM and returns at once.
    pub fn sigterm(&self) {
        sigterm(self.pid());
    }

    /// Waits at most `timeout` for the exit status.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.try_status() {
                return Some(st);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, then the exit status (panics with the log after 60 s).
    pub fn terminate(mut self) -> ExitStatus {
        self.sigterm();
        match self.wait_exit(Duration::from_secs(60)) {
            Some(st) => st,
            None => panic!(
                "{} did not exit within 60 s of SIGTERM:\n{}",
                self.pid(),
                self.log_text()
            ),
        }
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Peak resident memory of the process so far (VmHWM, KiB), from /proc.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no VmHWM in /proc/{}/status", self.pid()))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}
