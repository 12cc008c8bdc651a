//! Shared support for the cross-binary tests: locating (and if need be building) the real
//! `flowmeter` and `mediator` binaries, running them, and computing expected values
//! independently of them (YAF 2.16.4's ipfixDump text for the same capture; ipfix-model's
//! decoder for files the flowmeter wrote).
#![allow(dead_code)]
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

#[path = "../../crates/mediator/tests/common/mariadb.rs"]
pub mod mariadb;
pub mod seed;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ipfix_model::record::FieldData;
use ipfix_model::{DataRecord, ElementId, FileReader};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shared corpus next to the checkout, if this machine has it.
pub fn corpus() -> Option<PathBuf> {
    let c = repo().join("../shared/corpus");
    c.is_dir().then_some(c)
}

/// A capture under tests/data/pcap.
pub fn fixture_pcap(rel: &str) -> PathBuf {
    repo().join("tests/data/pcap").join(rel)
}

/// YAF's ipfixDump text for a capture under tests/data/pcap (same relative path, .dump.txt).
pub fn fixture_dump(rel_pcap: &str) -> PathBuf {
    let rel = Path::new(rel_pcap).with_extension("dump.txt");
    repo().join("tests/data/yaf").join(rel)
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

static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// Directory holding debug `flowmeter` and `mediator`, built once per test process when
/// either is missing or older than its sources (the root package cannot depend on another
/// package's binaries).
fn bin_dir() -> PathBuf {
    let r = BUILT.get_or_init(|| {
        let dir = target_dir().join("debug");
        let have = |n: &str| dir.join(n).is_file();
        // Built and not older than the sources: use them. Otherwise (a fresh clone, or a
        // change since the last build) build, so the tests never run stale binaries.
        let built = ["flowmeter", "mediator"]
            .iter()
            .filter_map(|n| {
                std::fs::metadata(dir.join(n))
                    .and_then(|m| m.modified())
                    .ok()
            })
            .min();
        let mut newest_source = None;
        for c in ["flowmeter", "mediator", "ipfix-model"] {
            newest_mtime(
                &repo().join("crates").join(c).join("src"),
                &mut newest_source,
            );
            newest_mtime(
                &repo().join("crates").join(c).join("Cargo.toml"),
                &mut newest_source,
            );
        }
        if have("flowmeter") && have("mediator") && built >= newest_source {
            return Ok(dir);
        }
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(cargo)
            .current_dir(repo())
            .args(["build", "-p", "flowmeter", "-p", "mediator"])
            .output()
            .map_err(|e| format!("running cargo build: {e}"))?;
        if !out.status.success() || !have("flowmeter") || !have("mediator") {
            return Err(format!(
                "`cargo build -p flowmeter -p mediator` failed ({}):\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(dir)
    });
    match r {
        Ok(d) => d.clone(),
        Err(e) => panic!("the flowmeter/mediator binaries are needed: {e}"),
    }
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

pub fn flowmeter_bin() -> PathBuf {
    bin_dir().join("flowmeter")
}

pub fn mediator_bin() -> PathBuf {
    bin_dir().join("mediator")
}

fn check(what: &str, args: &[String], out: Output) -> Output {
    assert!(
        out.status.success(),
        "{what} {args:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `mediator ARGS` to completion; panics with its output if it fails.
pub fn mediator(args: &[String]) -> Output {
    let out = Command::new(mediator_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run mediator");
    check("mediator", args, out)
}

/// What the flowmeter says it did (its summary line on stderr).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FlowmeterSummary {
    pub packets: u64,
    pub flows: u64,
    pub dns_records: u64,
}

/// Runs `flowmeter ARGS` to completion; panics if it fails; returns its summary line.
pub fn flowmeter(args: &[String]) -> FlowmeterSummary {
    let out = Command::new(flowmeter_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run flowmeter");
    let out = check("flowmeter", args, out);
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("flowmeter: ") && l.contains(" flows, "))
        .unwrap_or_else(|| panic!("no summary line from flowmeter:\n{err}"));
    // "flowmeter: 136 packets (10 ignored, 0 dropped), 34 flows, 91 DNS records"
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

pub fn s<T: AsRef<std::ffi::OsStr> + ?Sized>(v: &T) -> String {
    v.as_ref().to_string_lossy().into_owned()
}

/// `mediator run` in the background, listening on a free port.
pub struct Daemon {
    child: Option<Child>,
    pub port: u16,
    pub metrics: Option<std::net::SocketAddr>,
    log: PathBuf,
}

impl Daemon {
    /// Starts `mediator run --in-host 127.0.0.1 --in-port 0 EXTRA...` and waits for its
    /// "listening tcp ADDR" line (and "listening metrics ADDR" when `--metrics-addr` is given).
    pub fn start(extra: &[String], log: &Path) -> Daemon {
        let mut args: Vec<String> = ["run", "--in-host", "127.0.0.1", "--in-port", "0"]
            .map(String::from)
            .to_vec();
        args.extend_from_slice(extra);
        let want_metrics = extra.iter().any(|a| a == "--metrics-addr");
        let mut child = Command::new(mediator_bin())
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .expect("spawn mediator");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut d = Daemon {
            child: Some(child),
            port: 0,
            metrics: None,
            log: log.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while d.port == 0 || (want_metrics && d.metrics.is_none()) {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(a) = line.strip_prefix("listening tcp ") {
                        d.port = a.trim().parse::<std::net::SocketAddr>().unwrap().port();
                    } else if let Some(a) = line.strip_prefix("listening metrics ") {
                        d.metrics = Some(a.trim().parse().unwrap());
                    }
                }
                Err(_) => panic!(
                    "mediator {args:?} did not report its listeners:\n{}",
                    d.log_text()
                ),
            }
        }
        d
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then wait (at most 60 s) for the exit status.
    pub fn terminate(mut self) -> ExitStatus {
        let mut c = self.child.take().unwrap();
        let st = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(st) = c.try_wait().unwrap() {
                return st;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                panic!(
                    "mediator did not exit within 60 s of SIGTERM:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `GET /metrics` from a Prometheus endpoint: sample name (with labels) -> value.
pub fn scrape(addr: std::net::SocketAddr) -> BTreeMap<String, f64> {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    stream.read_to_string(&mut resp).unwrap();
    assert!(
        resp.starts_with("HTTP/1.1 200"),
        "metrics scrape of {addr}: {resp}"
    );
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let mut out = BTreeMap::new();
    for line in body.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if let Some((k, v)) = line.rsplit_once(' ') {
            if let Ok(v) = v.parse::<f64>() {
                out.insert(k.to_string(), v);
            }
        }
    }
    out
}

const CERT_PEN: u32 = 6871;
const DNS_QNAME: ElementId = ElementId {
    pen: CERT_PEN,
    id: 179,
};
const SOURCE_IPV4: ElementId = ElementId { pen: 0, id: 8 };
const SOURCE_IPV6: ElementId = ElementId { pen: 0, id: 27 };

fn has(rec: &DataRecord<'_>, e: ElementId) -> bool {
    rec.template.fields().iter().any(|f| f.element == e)
}

fn qname_records(rec: &DataRecord<'_>) -> u64 {
    if has(rec, DNS_QNAME) {
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

/// IPFIX file contents counted with ipfix-model (not the mediator's mapping code).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IpfixCounts {
    pub messages: u64,
    pub flows: u64,
    pub dns: u64,
    /// Top-level data records that are not flows (YAF's statistics and tombstone records).
    pub other: u64,
}

pub fn ipfix_counts(paths: &[PathBuf]) -> IpfixCounts {
    let mut c = IpfixCounts::default();
    for path in paths {
        let bytes = std::fs::read(path).unwrap();
        c.add_stream(&bytes, &path.display().to_string());
    }
    c
}

impl IpfixCounts {
    /// Adds the messages of an IPFIX file or TCP stream (the same framing, RFC 5655/7011).
    pub fn add_stream(&mut self, bytes: &[u8], what: &str) {
        let c = self;
        let mut rd = FileReader::new(bytes);
        while let Some(m) = rd.next_message().unwrap_or_else(|e| panic!("{what}: {e}")) {
            c.messages += 1;
            for r in m.data_records() {
                if !r.template.is_options() && (has(r, SOURCE_IPV4) || has(r, SOURCE_IPV6)) {
                    c.flows += 1;
                    c.dns += qname_records(r);
                } else {
                    c.other += 1;
                }
            }
        }
    }
}

/// One DNS record (0xCF00) as YAF exported it, with the columns the seed's queries read.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct YafRr {
    pub rrname: String,
    /// Address or target name of the rdata; "" for questions and types without rdata.
    pub rrval: String,
    pub qr: u8,
    pub rtype: u16,
    pub auth: u8,
    pub nx: u8,
    pub section: u8,
    pub ttl: u32,
}

/// One top-level flow record of a YAF dump.
#[derive(Debug, Clone, Default)]
pub struct YafFlow {
    pub src: String,
    pub dst: String,
    /// flowStartMilliseconds as ipfixDump prints it: "2011-03-18 19:06:07.096" (UTC).
    pub start: String,
    pub rrs: Vec<YafRr>,
}

/// Parses `ipfixDump --yaf` text (libfixbuf's decoder, independent of ours): every flow
/// record (options records are left out) with its DNS records.
pub fn yaf_dump(path: &Path) -> Vec<YafFlow> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut flows: Vec<YafFlow> = Vec::new();
    let mut in_flow = false;
    let mut cur_rr: Option<YafRr> = None;
    let mut rdata: Option<String> = None;
    let value = |t: &str| -> String {
        let v = t.split_once(" : ").map(|(_, v)| v).unwrap_or("");
        match v.split_once(") ") {
            Some((len, s)) if len.starts_with("(len:") => s.to_string(),
            _ => v.to_string(),
        }
    };
    let key = |t: &str| -> String {
        t.split_once(" : ")
            .map(|(k, _)| k.split_whitespace().last().unwrap_or("").to_string())
            .unwrap_or_default()
    };
    for line in text.lines() {
        let t = line.trim_start_matches('\t');
        let depth = line.len() - t.len();
        if depth == 0 && t.starts_with("--- ") {
            in_flow = false;
        }
        if depth == 1 && t.starts_with("count:") && t.contains("tid:") {
            // The top-level data record's header: flows are 0xB0xx/0xB4xx in YAF.
            let tid = t.split("(0x").nth(1).unwrap_or("");
            in_flow = tid.starts_with('b');
            if in_flow {
                flows.push(YafFlow::default());
            }
            continue;
        }
        if !in_flow {
            continue;
        }
        let flow = flows.last_mut().unwrap();
        if depth == 1 {
            match key(t).as_str() {
                "sourceIPv4Address" | "sourceIPv6Address" => flow.src = value(t),
                "destinationIPv4Address" | "destinationIPv6Address" => flow.dst = value(t),
                "flowStartMilliseconds" => flow.start = value(t),
                _ => {}
            }
            continue;
        }
        if t.starts_with("count:") && t.contains("(0xcf00)") && !t.contains("semantic") {
            cur_rr = Some(YafRr::default());
            rdata = None;
            continue;
        }
        let Some(rr) = cur_rr.as_mut() else { continue };
        let k = key(t);
        match k.as_str() {
            "sourceIPv4Address" | "sourceIPv6Address" | "dnsCName" | "dnsNSDName"
            | "dnsPTRDName" | "dnsMXExchange" | "dnsSRVTarget" | "dnsSOAMName" | "dnsTXTData"
                if rdata.is_none() =>
            {
                rdata = Some(value(t))
            }
            "dnsQName" => rr.rrname = value(t),
            "dnsTTL" => rr.ttl = value(t).parse().unwrap(),
            "dnsQRType" => rr.rtype = value(t).parse().unwrap(),
            "dnsQueryResponse" => rr.qr = value(t).parse().unwrap(),
            "dnsAuthoritative" => rr.auth = value(t).parse().unwrap(),
            "dnsNXDomain" => rr.nx = value(t).parse().unwrap(),
            "dnsRRSection" => rr.section = value(t).parse().unwrap(),
            "dnsID" => {
                // Last field before the padding: the record is complete.
                let mut done = cur_rr.take().unwrap();
                done.rrval = rdata.take().unwrap_or_default();
                flow.rrs.push(done);
            }
            _ => {}
        }
    }
    flows
}

/// A fresh temporary directory for one test.
pub fn tempdir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(prefix).tempdir().unwrap()
}

/// Runs a future to completion on a small runtime (the tests themselves are synchronous).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}
