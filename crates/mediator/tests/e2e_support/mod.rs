//! Helpers for the mediator's binary-level tests: the workspace's shared test support
//! (`tests/support` at the repository root: paths, independent IPFIX counts, ipfixDump
//! parsing, processes, metrics scrapes) plus what needs the mediator's own types (database
//! arguments, row counts read back through the store).
#![allow(dead_code, unused_imports)] // each test binary uses a different part

#[path = "../../../../tests/support/mod.rs"]
pub mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use mediator::dbconfig::{DbConfig, MysqlConfig, SqliteConfig};
use mediator::store::{Store, TableCounts};
pub use support::*;

/// This package's `mediator` binary (built by cargo for these tests).
pub fn mediator_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mediator"))
}

/// Runs `mediator ARGS` to completion (stderr is printed when it fails).
pub fn run_mediator(args: &[String]) -> Output {
    run(&mediator_bin(), args)
}

/// Starts `mediator ARGS` (stderr to `log`) and waits for the listeners `args` ask for.
pub fn start_mediator(args: &[String], log: &Path) -> Daemon {
    Daemon::start(&mediator_bin(), args, log)
}

/// Database arguments for the binary (password, if any, from MYSQL_PWD).
pub fn db_args(cfg: &DbConfig) -> Vec<String> {
    match cfg {
        DbConfig::Mysql(m) => vec![
            "--database-url".into(),
            format!("mysql://{}@{}:{}/{}", m.user, m.host, m.port, m.database),
        ],
        DbConfig::Sqlite(s) => vec!["--sqlite".into(), s.path.display().to_string()],
    }
}

/// `mediator run` listening on an ephemeral TCP port (`--in-port 0`), journaling into
/// `spool`, rotating journals every `rotate_secs`, polling every 0.2 s; callers add more.
pub fn listener_args(cfg: &DbConfig, spool: &Path, rotate_secs: u64) -> Vec<String> {
    let mut args = vec!["run".to_string()];
    args.extend(db_args(cfg));
    args.extend([
        "--in-port".into(),
        "0".into(),
        "--spool-dir".into(),
        spool.display().to_string(),
        "--rotate-seconds".into(),
        rotate_secs.to_string(),
        "--poll-interval".into(),
        "0.2".into(),
    ]);
    args
}

pub fn mysql(cfg: MysqlConfig) -> DbConfig {
    DbConfig::Mysql(cfg)
}

pub fn sqlite(path: &Path) -> DbConfig {
    DbConfig::Sqlite(SqliteConfig {
        path: path.to_path_buf(),
    })
}

pub async fn counts(cfg: &DbConfig) -> TableCounts {
    let store = Store::open(cfg).await.unwrap();
    store.counts().await.unwrap()
}

/// The aggregates agree with the raw rows, exactly: pdns_rr's counts sum to the stored response
/// records outside the question section (no batch's keys lost or applied twice), and no
/// write-behind row is left pending. MySQL only.
pub async fn assert_aggregates_match_raw(cfg: &DbConfig) {
    use mysql_async::prelude::Queryable;
    let store = Store::open(cfg).await.unwrap();
    let Store::Mysql(m) = &store else {
        panic!("pdns_pending is MySQL's")
    };
    let mut c = m.pool().get_conn().await.unwrap();
    let raw: Option<u64> = c
        .query_first("SELECT COUNT(*) FROM dns WHERE qr = 1 AND section <> 0")
        .await
        .unwrap();
    let agg: Option<u64> = c
        .query_first("SELECT CAST(COALESCE(SUM(count), 0) AS UNSIGNED) FROM pdns_rr")
        .await
        .unwrap();
    let pending: Option<u64> = c
        .query_first("SELECT COUNT(*) FROM pdns_pending")
        .await
        .unwrap();
    assert!(raw.unwrap_or(0) > 0, "no response records loaded");
    assert_eq!(agg, raw, "pdns_rr counts against response records in dns");
    assert_eq!(pending, Some(0), "write-behind rows left pending");
}

/// Polls counts until `pred` holds or `timeout`; returns the last counts.
pub async fn wait_counts(
    cfg: &DbConfig,
    timeout: Duration,
    pred: impl Fn(&TableCounts) -> bool,
) -> TableCounts {
    let deadline = Instant::now() + timeout;
    let store = Store::open(cfg).await.unwrap();
    loop {
        if let Ok(c) = store.counts().await {
            if pred(&c) || Instant::now() >= deadline {
                return c;
            }
        } else if Instant::now() >= deadline {
            return TableCounts::default();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A YAF file of at least `mib` MiB (the YAF inputs concatenated as often as needed), big
/// enough to take several chunks (and seconds) to load.
pub fn big_yaf(dir: &Path, mib: u64) -> PathBuf {
    let inputs = yaf_inputs();
    let size: u64 = inputs
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    let times = (mib << 20).div_ceil(size.max(1)) as usize;
    let p = dir.join("big.yaf");
    concat_file(&inputs, times.max(1), &p);
    p
}

/// Cumulative flow counts at the file's chunk boundaries (0 first): after an interrupted
/// load, the table must end on one of them.
pub fn chunk_bounds(path: &Path) -> Vec<u64> {
    let mut bounds = vec![0u64];
    let mut dec = mediator::ingest::open_file(path, "").unwrap();
    while let Some(c) = dec.next_chunk() {
        let last = *bounds.last().unwrap();
        bounds.push(last + c.flows.len() as u64);
    }
    bounds
}

/// Bytes of mediator journal files (`*.ipfix`) in `spool`.
pub fn journal_bytes(spool: &Path) -> u64 {
    std::fs::read_dir(spool)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".ipfix"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// An administrative connection to the database of `cfg` (password from the config).
pub async fn admin_conn(cfg: &MysqlConfig) -> mysql_async::Conn {
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(cfg.host.clone())
        .tcp_port(cfg.port)
        .user(Some(cfg.user.clone()))
        .pass(cfg.password.as_ref().map(|p| p.expose().to_string()))
        .db_name(Some(cfg.database.clone()));
    mysql_async::Conn::new(opts).await.unwrap()
}

/// A private MariaDB for a test that changes server-wide settings or restarts it. The shared
/// server is started first (it is process-wide and other tests of the binary need it): two
/// `mariadb-install-db` runs at the same moment were seen to fail. One retry covers a port
/// taken between probe and bind.
pub fn private_server() -> crate::common::mariadb::PrivateServer {
    let _ = crate::common::mariadb::server_url();
    crate::common::mariadb::PrivateServer::start()
        .or_else(|e| {
            eprintln!("private MariaDB failed to start ({e}); retrying once");
            crate::common::mariadb::PrivateServer::start()
        })
        .expect("private MariaDB")
}

/// A minimal IPv4 flow template: sourceIPv4Address, destinationIPv4Address,
/// sourceTransportPort, destinationTransportPort, protocolIdentifier, flowStart/EndMilliseconds.
pub const FLOW4: [(u16, u16); 7] = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (152, 8), (153, 8)];
/// An IPv6 flow template with the same information in another order and other lengths.
pub const FLOW6: [(u16, u16); 7] = [
    (152, 8),
    (153, 8),
    (27, 16),
    (28, 16),
    (7, 2),
    (11, 2),
    (4, 1),
];

/// A [`FLOW4`] record: 192.0.2.1 -> 198.51.100.1, UDP, source port `sport`.
pub fn flow4(sport: u16) -> Vec<u8> {
    let t = 1_700_000_000_000u64;
    let mut r = vec![192, 0, 2, 1, 198, 51, 100, 1];
    r.extend(sport.to_be_bytes());
    r.extend(53u16.to_be_bytes());
    r.push(17);
    r.extend(t.to_be_bytes());
    r.extend((t + 10).to_be_bytes());
    r
}

/// A [`FLOW6`] record: 2001:db8::1 -> 2001:db8::2, UDP, source port `sport`.
pub fn flow6(sport: u16) -> Vec<u8> {
    let t = 1_700_000_000_000u64;
    let mut r = Vec::new();
    r.extend(t.to_be_bytes());
    r.extend((t + 10).to_be_bytes());
    r.extend(
        "2001:db8::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    r.extend(
        "2001:db8::2"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    r.extend(sport.to_be_bytes());
    r.extend(53u16.to_be_bytes());
    r.push(17);
    r
}

/// (source port, has an IPv6 source) of every row of `flows` in the SQLite database `db`.
pub fn sqlite_flow_ports(db: &Path) -> Vec<(u16, bool)> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut st = c
        .prepare("SELECT srcport, srcip6 IS NOT NULL FROM flows ORDER BY srcport")
        .unwrap();
    let rows = st
        .query_map([], |r| Ok((r.get::<_, u16>(0)?, r.get::<_, bool>(1)?)))
        .unwrap();
    rows.map(Result::unwrap).collect()
}
