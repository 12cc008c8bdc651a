//! A MariaDB server for tests: `MYSQL_URL` when set (scripts/test.sh sets it), otherwise a
//! private `mariadbd` on a temporary data directory and a free port, shared by all tests of the
//! process. Never skips: if no server can be had, the test fails saying how to get one.
//!
//! Ports: a free port is probed by binding port 0, which leaves a window in which another
//! private server (a parallel test, another test binary) can take it. Start-up therefore retries
//! with a new port when the server reports the bind failure or exits early, and readiness is
//! only accepted from a server whose `@@datadir` is ours, never from a foreign one.
//!
//! Cleanup: a watchdog shell started with each private server kills it and removes its
//! directory once the test process is gone, since statics are never dropped.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use mediator::dbconfig::{DbArgs, DbConfig, MysqlConfig};

fn find_bin(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(["/usr/sbin", "/usr/local/sbin", "/usr/bin", "/sbin"].map(PathBuf::from));
    for n in names {
        for d in &dirs {
            let p = d.join(n);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

fn user_name() -> String {
    Command::new("id")
        .arg("-un")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "root".into())
}

const START_ATTEMPTS: usize = 5;
const RESTART_ATTEMPTS: usize = 10;

enum StartError {
    /// The port was taken (bind failure, early exit, or a foreign server answering on it).
    PortTaken(String),
    Other(String),
}

/// Whether two paths name the same directory (the server reports its datadir with a trailing
/// slash, and temp dirs may sit behind a symlink).
fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a.components().eq(b.components()),
    }
}

/// A private mariadbd; stopped and deleted on drop (and by the watchdog if never dropped).
pub struct PrivateServer {
    dir: tempfile::TempDir,
    pub port: u16,
    server: PathBuf,
    /// Added after the defaults.
    options: Vec<String>,
    child: Option<Child>,
}

/// Runs `cmd` (the program `what`) to completion; an error with its output unless it succeeded.
fn output_ok(cmd: &mut Command, what: &Path) -> Result<std::process::Output, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("running {}: {e}", what.display()))?;
    if out.status.success() {
        return Ok(out);
    }
    Err(format!(
        "{} failed: {}{}",
        what.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// The server's own reading of `options`: `mariadbd --verbose --help` with them, which fails on
/// an unknown option or a bad value, as name -> value (names with dashes).
pub fn server_reading(options: &[String]) -> Result<BTreeMap<String, String>, String> {
    let server = find_bin(&["mariadbd", "mysqld"]).ok_or("no mariadbd/mysqld binary")?;
    let out = output_ok(
        Command::new(&server)
            .arg("--no-defaults")
            .args(options)
            .args(["--verbose", "--help"]),
        &server,
    )?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.to_string()))
        })
        .collect())
}

/// The `[mysqld]` settings of deploy/mariadb/pdns.cnf (the deployment's server settings) as
/// command-line options, for a private server that should behave like a deployed one.
pub fn deployment_options() -> Result<Vec<String>, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/mariadb/pdns.cnf");
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let mut section = String::new();
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
        } else if section == "mysqld" {
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| format!("{}: not key = value: {line}", path.display()))?;
            out.push(format!("--{}={}", k.trim().replace('_', "-"), v.trim()));
        }
    }
    Ok(out)
}

impl PrivateServer {
    pub fn start() -> Result<PrivateServer, String> {
        Self::start_first_on(free_port())
    }

    /// `start` with server options added after the test defaults (later options win), e.g.
    /// [`deployment_options`].
    pub fn start_with(options: Vec<String>) -> Result<PrivateServer, String> {
        Self::start_inner(free_port(), options)
    }

    /// `start`, trying `port` first (tests of the conflict handling pass a port in use).
    pub fn start_first_on(port: u16) -> Result<PrivateServer, String> {
        Self::start_inner(port, Vec::new())
    }

    fn start_inner(port: u16, options: Vec<String>) -> Result<PrivateServer, String> {
        let server = find_bin(&["mariadbd", "mysqld"]).ok_or(
            "no MariaDB server binary (mariadbd/mysqld) found and MYSQL_URL is not set: \
             run `apt-get install mariadb-server` or set MYSQL_URL=mysql://root@HOST:PORT/",
        )?;
        let install = find_bin(&["mariadb-install-db", "mysql_install_db"])
            .ok_or("mariadb-install-db not found: run `apt-get install mariadb-server`")?;
        let dir = tempfile::Builder::new()
            .prefix("mediator-test-db.")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let data = dir.path().join("data");
        // A private tmpdir: bootstraps running at the same time in the shared /tmp were seen
        // failing on each other's `#sql-temptable-*` files.
        let tmp = dir.path().join("tmp");
        std::fs::create_dir_all(&tmp).map_err(|e| format!("temp dir: {e}"))?;
        output_ok(
            Command::new(&install)
                .arg("--no-defaults")
                .arg(format!("--datadir={}", data.display()))
                .arg(format!("--tmpdir={}", tmp.display()))
                .arg(format!("--user={}", user_name()))
                .arg("--auth-root-authentication-method=normal")
                .arg("--skip-test-db"),
            &install,
        )?;
        let mut s = PrivateServer {
            port,
            dir,
            server,
            options,
            child: None,
        };
        // The watchdog first, so that a server left by a failed attempt is cleaned up too.
        s.spawn_watchdog()?;
        let mut last = String::new();
        for attempt in 0..START_ATTEMPTS {
            if attempt > 0 {
                s.port = free_port();
            }
            match s.spawn() {
                Ok(()) => return Ok(s),
                Err(StartError::PortTaken(e)) => {
                    eprintln!("private MariaDB: port {} taken ({e}); new port", s.port);
                    last = e;
                }
                Err(StartError::Other(e)) => return Err(e),
            }
        }
        Err(format!(
            "mariadbd could not get a free port in {START_ATTEMPTS} attempts: {last}"
        ))
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}/", self.port)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn error_log_len(&self) -> usize {
        std::fs::metadata(self.dir.path().join("error.log"))
            .map(|m| m.len() as usize)
            .unwrap_or(0)
    }

    /// Starts the server on `self.port` once. A port conflict is reported apart, so that the
    /// caller can choose: a new port at first start, the same port (after a pause) on restart,
    /// since clients hold the URL.
    fn spawn(&mut self) -> Result<(), StartError> {
        let log_start = self.error_log_len();
        let d = self.dir.path();
        let child = Command::new(&self.server)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", d.join("data").display()))
            .arg(format!("--socket={}", d.join("mysqld.sock").display()))
            .arg(format!("--tmpdir={}", d.join("tmp").display()))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--user={}", user_name()))
            .arg(format!("--pid-file={}", d.join("mysqld.pid").display()))
            .arg(format!("--log-error={}", d.join("error.log").display()))
            .arg("--innodb-buffer-pool-size=256M")
            .arg("--innodb-flush-log-at-trx-commit=2")
            .arg("--max-connections=500")
            .arg("--local-infile=1")
            .arg("--skip-name-resolve")
            .args(&self.options)
            // Own process group: a Ctrl-C of the test run must reach only the test process,
            // so that the watchdog survives it and cleans up.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| StartError::Other(format!("starting {}: {e}", self.server.display())))?;
        self.child = Some(child);
        let r = self.wait_ready(log_start);
        if r.is_err() {
            // Never leave a half-started server behind (it might later bind after all).
            self.kill();
        }
        r
    }

    fn spawn_watchdog(&self) -> Result<(), String> {
        // Kills the server and removes its directory when this test process has exited.
        Command::new("sh")
            .arg("-c")
            .arg(
                "while kill -0 \"$1\" 2>/dev/null; do sleep 1; done; \
                 [ -f \"$2/mysqld.pid\" ] && kill -9 \"$(cat \"$2/mysqld.pid\")\" 2>/dev/null; \
                 sleep 1; rm -rf \"$2\"",
            )
            .arg("watchdog")
            .arg(std::process::id().to_string())
            .arg(self.dir.path())
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(|_| ())
            .map_err(|e| format!("starting watchdog: {e}"))
    }

    fn wait_ready(&mut self, log_start: usize) -> Result<(), StartError> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let client = find_bin(&["mariadb", "mysql"]);
        let ours = self.data_dir();
        while Instant::now() < deadline {
            let new_log = self.error_log_since(log_start);
            let port_taken = new_log.contains("Bind on TCP/IP port")
                || new_log.contains("Address already in use");
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    let msg = format!(
                        "mariadbd exited during start-up ({status}): {}",
                        self.error_log_tail()
                    );
                    // An early exit without a clear reason is retried like a conflict: the
                    // bind error may not be flushed to the log yet.
                    return Err(if port_taken || !new_log.contains("[ERROR]") {
                        StartError::PortTaken(msg)
                    } else {
                        StartError::Other(msg)
                    });
                }
            }
            if port_taken {
                return Err(StartError::PortTaken(format!(
                    "port {} in use: {}",
                    self.port,
                    self.error_log_tail()
                )));
            }
            match &client {
                Some(cl) => {
                    let out = Command::new(cl)
                        .args(["--no-defaults", "-h127.0.0.1", "-uroot", "-N", "-B"])
                        // A listener that is not a server would stall the handshake.
                        .arg("--connect-timeout=3")
                        .args(["-e", "SELECT @@datadir"])
                        .arg(format!("-P{}", self.port))
                        .stdin(Stdio::null())
                        .output();
                    if let Some(o) = out.ok().filter(|o| o.status.success()) {
                        let got = String::from_utf8_lossy(&o.stdout).trim().to_string();
                        if same_dir(Path::new(&got), &ours) {
                            return Ok(());
                        }
                        // Somebody else's server answers on our port: ours cannot bind it.
                        return Err(StartError::PortTaken(format!(
                            "a foreign server (datadir {got}) answers on port {}",
                            self.port
                        )));
                    }
                }
                None => {
                    // No client to ask: accept only when our own child wrote its pid file
                    // (after a successful bind the server is running) and the port answers.
                    let pid = std::fs::read_to_string(self.dir.path().join("mysqld.pid"))
                        .ok()
                        .and_then(|p| p.trim().parse::<u32>().ok());
                    let mine = self.child.as_ref().map(|c| c.id());
                    if pid.is_some()
                        && pid == mine
                        && std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                    {
                        return Ok(());
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(StartError::Other(format!(
            "mariadbd did not accept connections within 60 s: {}",
            self.error_log_tail()
        )))
    }

    fn error_log_since(&self, start: usize) -> String {
        let log = std::fs::read(self.dir.path().join("error.log")).unwrap_or_default();
        String::from_utf8_lossy(log.get(start..).unwrap_or_default()).into_owned()
    }

    fn error_log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// Stops the server (SIGTERM, SIGKILL after 30 s).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kills the server hard (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and data directory. Clients hold the URL, so the port
    /// cannot change: if another server took it meanwhile, wait for it a little, then fail
    /// (never talk to the foreign one).
    pub fn start_again(&mut self) -> Result<(), String> {
        let mut last = String::new();
        for attempt in 0..RESTART_ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(Duration::from_secs(2));
            }
            match self.spawn() {
                Ok(()) => return Ok(()),
                Err(StartError::PortTaken(e)) => {
                    eprintln!(
                        "private MariaDB restart: port {} busy ({e}); waiting",
                        self.port
                    );
                    last = e;
                }
                Err(StartError::Other(e)) => return Err(e),
            }
        }
        Err(format!(
            "mariadbd could not get its port {} back: {last}",
            self.port
        ))
    }

    pub fn restart(&mut self) -> Result<(), String> {
        self.stop();
        self.start_again()
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        self.kill();
    }
}

enum Shared {
    External(String),
    Private(Mutex<PrivateServer>, String),
}

static SHARED: OnceLock<Result<Shared, String>> = OnceLock::new();

/// Base URL of the shared test server (MYSQL_URL or a private one), e.g.
/// `mysql://root@127.0.0.1:PORT/`. Panics with instructions when there is none.
pub fn server_url() -> String {
    let s = SHARED.get_or_init(|| match std::env::var("MYSQL_URL") {
        Ok(u) if !u.is_empty() => Ok(Shared::External(u)),
        _ => PrivateServer::start().map(|p| {
            let url = p.url();
            eprintln!("test MariaDB: private server at {url}");
            Shared::Private(Mutex::new(p), url)
        }),
    });
    match s {
        Ok(Shared::External(u)) => u.clone(),
        Ok(Shared::Private(_, u)) => u.clone(),
        Err(e) => panic!("no MariaDB for the tests: {e}"),
    }
}

/// Config for `base_url` with its database replaced by `db` (password from MYSQL_PWD if set).
pub fn config_for_url(base_url: &str, db: &str) -> MysqlConfig {
    let args = DbArgs {
        database_url: Some(base_url.to_string()),
        ..Default::default()
    };
    let resolved = args
        .resolve(&|k| std::env::var(k).ok(), Path::new("unused"))
        .expect("MYSQL_URL must be a mysql:// URL");
    match resolved.config {
        DbConfig::Mysql(mut m) => {
            m.database = db.to_string();
            m
        }
        DbConfig::Sqlite(_) => panic!("MYSQL_URL must be a mysql:// URL"),
    }
}

/// A database name no other test uses.
pub fn unique_db_name(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh database on the shared server.
pub fn fresh_config(prefix: &str) -> MysqlConfig {
    config_for_url(&server_url(), &unique_db_name(prefix))
}
