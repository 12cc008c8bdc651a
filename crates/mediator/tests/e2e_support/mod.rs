//! Helpers for the mediator's binary-level tests: inputs, independent record counts, running
//! the real `mediator` binary, reading row counts back.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ipfix_model::ie::ids::DNS_QNAME;
use ipfix_model::{DataRecord, FieldData, FileReader};
use mediator::dbconfig::{DbConfig, MysqlConfig, SqliteConfig};
use mediator::ingest::map;
use mediator::store::{Store, TableCounts};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn corpus() -> Option<PathBuf> {
    let c = repo().join("../shared/corpus");
    c.is_dir().then_some(c)
}

pub fn files_under(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, ext, out);
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

/// tests/data YAF and other-exporter files.
pub fn fixture_inputs() -> Vec<PathBuf> {
    let mut v = Vec::new();
    files_under(&repo().join("tests/data/yaf"), "yaf", &mut v);
    files_under(&repo().join("tests/data/ipfix"), "ipfix", &mut v);
    v.sort();
    v
}

/// Corpus files (empty with a note when the corpus is absent).
pub fn corpus_inputs() -> Vec<PathBuf> {
    let mut v = Vec::new();
    match corpus() {
        Some(c) => {
            files_under(&c.join("yaf"), "yaf", &mut v);
            files_under(&c.join("ipfix"), "ipfix", &mut v);
        }
        None => eprintln!("NOTE: ../shared/corpus not found: whole-corpus part skipped"),
    }
    v.sort();
    v
}

fn qname_records(rec: &DataRecord<'_>) -> u64 {
    if map::field(rec, DNS_QNAME).is_some() {
        return 1;
    }
    let mut n = 0;
    for f in &rec.fields {
        match &f.data {
            FieldData::SubTemplateList(l) => n += l.records.iter().map(qname_records).sum::<u64>(),
            FieldData::SubTemplateMultiList(l) => {
                n += l
                    .entries
                    .iter()
                    .flat_map(|e| &e.records)
                    .map(qname_records)
                    .sum::<u64>()
            }
            _ => {}
        }
    }
    n
}

/// (flows, dns rows) of the complete messages of `path`, by walking ipfix-model's records
/// (not the mediator's mapping code).
pub fn expected_counts(path: &Path) -> (u64, u64) {
    let mut rd = FileReader::new(BufReader::new(std::fs::File::open(path).unwrap()));
    let (mut flows, mut dns) = (0, 0);
    while let Ok(Some(m)) = rd.next_message() {
        for r in m.data_records() {
            if map::is_flow_record(r) {
                flows += 1;
                dns += qname_records(r);
            }
        }
    }
    (flows, dns)
}

pub fn mediator_bin() -> &'static str {
    env!("CARGO_BIN_EXE_mediator")
}

/// Database arguments for the binary.
pub fn db_args(cfg: &DbConfig) -> Vec<String> {
    match cfg {
        DbConfig::Mysql(m) => vec![
            "--database-url".into(),
            format!("mysql://{}@{}:{}/{}", m.user, m.host, m.port, m.database),
        ],
        DbConfig::Sqlite(s) => vec!["--sqlite".into(), s.path.display().to_string()],
    }
}

pub fn mysql(cfg: MysqlConfig) -> DbConfig {
    DbConfig::Mysql(cfg)
}

pub fn sqlite(path: &Path) -> DbConfig {
    DbConfig::Sqlite(SqliteConfig {
        path: path.to_path_buf(),
    })
}

/// Runs `mediator ARGS` to completion.
pub fn run_mediator(args: &[String]) -> Output {
    let out = Command::new(mediator_bin())
        .args(args)
        .env("RUST_LOG", "info")
        .output()
        .expect("run mediator");
    if !out.status.success() {
        eprintln!(
            "mediator {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// Starts `mediator ARGS` in the background (stderr to a log file in `log_dir`).
pub fn spawn_mediator(args: &[String], log: &Path) -> Child {
    let f = std::fs::File::create(log).unwrap();
    Command::new(mediator_bin())
        .args(args)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(f)
        .spawn()
        .expect("spawn mediator")
}

/// Reads the "listening tcp ADDR" line a `run` with a listener prints.
pub fn listening_addr(child: &mut Child) -> std::net::SocketAddr {
    listening_addrs(child, 1)[0]
}

/// Reads `n` "listening WHAT ADDR" lines, in the order printed: metrics (with
/// --metrics-addr), tcp, udp (with --udp).
pub fn listening_addrs(child: &mut Child, n: usize) -> Vec<std::net::SocketAddr> {
    let out = child.stdout.take().expect("stdout piped");
    let mut r = BufReader::new(out);
    let mut line = String::new();
    let mut addrs = Vec::new();
    loop {
        line.clear();
        assert!(
            r.read_line(&mut line).unwrap() > 0,
            "mediator exited before listening"
        );
        let l = line.trim();
        if let Some(a) = l
            .strip_prefix("listening tcp ")
            .or_else(|| l.strip_prefix("listening udp "))
            .or_else(|| l.strip_prefix("listening metrics "))
        {
            addrs.push(a.parse().unwrap());
        }
        if addrs.len() == n {
            // Keep draining stdout so the child never blocks on a full pipe.
            std::thread::spawn(move || {
                let mut s = String::new();
                while r.read_line(&mut s).map(|n| n > 0).unwrap_or(false) {
                    s.clear();
                }
            });
            return addrs;
        }
    }
}

pub fn sigterm(child: &Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
}

/// Waits for the child to exit, at most `timeout`.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

pub async fn counts(cfg: &DbConfig) -> TableCounts {
    let store = Store::open(cfg).await.unwrap();
    store.counts().await.unwrap()
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

/// One big IPFIX file: the given files concatenated `times` times. YAF files share their
/// template IDs and layouts, so the concatenation decodes as one session.
pub fn concat_file(inputs: &[PathBuf], times: usize, out: &Path) {
    let mut data = Vec::new();
    for p in inputs {
        data.extend(std::fs::read(p).unwrap());
    }
    let mut all = Vec::with_capacity(data.len() * times);
    for _ in 0..times {
        all.extend_from_slice(&data);
    }
    std::fs::write(out, all).unwrap();
}

/// YAF files to build load from: the corpus when present, else tests/data.
pub fn yaf_inputs() -> Vec<PathBuf> {
    let mut v = Vec::new();
    match corpus() {
        Some(c) => files_under(&c.join("yaf"), "yaf", &mut v),
        None => files_under(&repo().join("tests/data/yaf"), "yaf", &mut v),
    }
    v.sort();
    v
}

/// `GET /metrics` over a plain socket; returns the body.
pub fn scrape(addr: std::net::SocketAddr) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// Value of the sample whose name-and-labels part is exactly `series`.
pub fn metric(body: &str, series: &str) -> Option<f64> {
    body.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}
