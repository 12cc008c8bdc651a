//! Shared by the export tests: finding YAF's files, decoding them with ipfix-model, and turning
//! YAF's flow records back into our `FlowRecord`.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use flowmeter::dpi::{DnsRecord, Rdata, RecordHead};
use flowmeter::flow::{FlowRecord, TcpInfo};
use ipfix_model::{DataRecord, ElementId, FieldData, FieldValue, Message, Session, SetContent};

/// The repository root (`PDNS_REPO_ROOT` overrides, for out-of-tree builds).
pub fn repo_root() -> PathBuf {
    if let Some(r) = std::env::var_os("PDNS_REPO_ROOT") {
        return PathBuf::from(r);
    }
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .find(|p| p.join("tests/data").is_dir())
        .map(Path::to_path_buf)
        .unwrap_or(here)
}

/// The `flowmeter` binary of this package.
pub fn exe() -> &'static str {
    env!("CARGO_BIN_EXE_flowmeter")
}

/// A capture shipped in tests/data/pcap.
pub fn fixture(rel: &str) -> PathBuf {
    repo_root().join("tests/data/pcap").join(rel)
}

/// The top-level flow records of an IPFIX file, in order.
pub fn flows(path: &Path) -> Vec<FlowRecord> {
    let bytes = std::fs::read(path).unwrap();
    data_sets(&bytes)
        .iter()
        .filter(|s| is_flow_template(s.tid))
        .flat_map(|s| s.records.iter().map(flow_from_yaf))
        .collect()
}

/// Follows stderr on a thread; the receiver gets every line.
pub fn follow_stderr(
    child: &mut std::process::Child,
) -> (
    std::sync::mpsc::Receiver<String>,
    std::thread::JoinHandle<String>,
) {
    use std::io::BufRead;
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let h = std::thread::spawn(move || {
        let mut all = String::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    (rx, h)
}

/// One value of the Prometheus text served at `addr` (None until it is there).
pub fn scrape(addr: &str, name: &str) -> Option<f64> {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(addr).ok()?;
    write!(
        c,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut resp = String::new();
    c.read_to_string(&mut resp).ok()?;
    resp.lines().find_map(|l| {
        let (k, v) = l.rsplit_once(' ')?;
        (k == name).then(|| v.parse().ok())?
    })
}

/// `../shared/corpus` next to the checkout, if present.
pub fn corpus() -> Option<PathBuf> {
    let c = repo_root().join("../shared/corpus");
    c.is_dir().then_some(c)
}

fn walk(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, ext, out);
        } else if p.extension().and_then(|x| x.to_str()) == Some(ext) {
            out.push(p);
        }
    }
}

/// YAF files: the small fixtures always, the whole corpus when present.
pub fn yaf_files() -> Vec<PathBuf> {
    let mut v = Vec::new();
    walk(&repo_root().join("tests/data/yaf"), "yaf", &mut v);
    match corpus() {
        Some(c) => walk(&c.join("yaf"), "yaf", &mut v),
        None => eprintln!("NOTE: ../shared/corpus not found: only tests/data/yaf is checked"),
    }
    v.sort();
    v
}

/// One top-level data set: its template, the exact body bytes, and the decoded records.
pub struct DataSet {
    pub tid: u16,
    pub body: Vec<u8>,
    pub records: Vec<DataRecord<'static>>,
}

/// Every data set of an IPFIX file, decoded with ipfix-model (panics on a decode error:
/// the callers test that there is none).
pub fn data_sets(bytes: &[u8]) -> Vec<DataSet> {
    let mut out = Vec::new();
    for_each_message(bytes, |raw, msg| {
        for set in &msg.sets {
            if let SetContent::Data { records, .. } = &set.content {
                let at = (set.offset - msg.offset) as usize;
                let len = u16::from_be_bytes([raw[at + 2], raw[at + 3]]) as usize;
                out.push(DataSet {
                    tid: set.id,
                    body: raw[at + 4..at + len].to_vec(),
                    records: records
                        .iter()
                        .cloned()
                        .map(DataRecord::into_owned)
                        .collect(),
                });
            }
        }
    });
    out
}

/// Decodes every message; panics with the offset on any error or undecodable set.
pub fn for_each_message(bytes: &[u8], mut f: impl FnMut(&[u8], &Message<'_>)) -> usize {
    let mut session = Session::new();
    let mut off = 0usize;
    let mut n = 0;
    while off < bytes.len() {
        let rest = &bytes[off..];
        let len = ipfix_model::complete_frame_len(rest, 65_535, off as u64)
            .unwrap_or_else(|e| panic!("frame at {off}: {e}"))
            .unwrap_or_else(|| panic!("truncated message at {off}"));
        let raw = &rest[..len];
        let msg = session
            .decode(raw, off as u64)
            .unwrap_or_else(|e| panic!("decode at {off}: {e}"));
        assert!(!msg.has_undecoded_data(), "undecoded data set at {off}");
        f(raw, &msg);
        off += len;
        n += 1;
    }
    n
}

pub fn field<'r>(rec: &'r DataRecord<'_>, pen: u32, id: u16) -> Option<&'r FieldValue<'r>> {
    let i = rec.template.position(ElementId::new(pen, id))?;
    rec.fields.get(i)
}

pub fn uint(rec: &DataRecord<'_>, pen: u32, id: u16) -> u64 {
    field(rec, pen, id)
        .and_then(FieldValue::bytes)
        .map(|b| b.iter().fold(0u64, |a, &x| a << 8 | u64::from(x)))
        .unwrap_or(0)
}

fn string(rec: &DataRecord<'_>, pen: u32, id: u16) -> String {
    let b = field(rec, pen, id)
        .and_then(FieldValue::bytes)
        .unwrap_or_default();
    String::from_utf8(b.to_vec()).expect("YAF strings are escaped ASCII")
}

fn octets(rec: &DataRecord<'_>, pen: u32, id: u16) -> Vec<u8> {
    field(rec, pen, id)
        .and_then(FieldValue::bytes)
        .unwrap_or_default()
        .to_vec()
}

fn addr(rec: &DataRecord<'_>, v4: u16, v6: u16) -> IpAddr {
    if let Some(b) = field(rec, 0, v4).and_then(FieldValue::bytes) {
        let a: [u8; 4] = b.try_into().unwrap();
        return IpAddr::V4(Ipv4Addr::from(a));
    }
    let b = field(rec, 0, v6).and_then(FieldValue::bytes).unwrap();
    let a: [u8; 16] = b.try_into().unwrap();
    IpAddr::V6(Ipv6Addr::from(a))
}

/// Nanoseconds since the epoch from YAF's millisecond and masked-NTP microsecond values: the
/// smallest time that encodes to both (the mask dropped up to 0.48 us, so round the fraction
/// up, and never below the millisecond value).
pub fn ns_from_yaf(ms: u64, ntp: u64) -> u64 {
    let secs = (ntp >> 32).saturating_sub(2_208_988_800);
    let frac = ntp & 0xFFFF_FFFF;
    let sub = (frac * 1_000_000_000).div_ceil(1 << 32);
    (secs * 1_000_000_000 + sub).max(ms * 1_000_000)
}

/// DNS records of a decoded 0xCE00 entry record.
fn dns_records(dns: &DataRecord<'_>) -> Vec<DnsRecord> {
    let Some(FieldData::SubTemplateList(stl)) = dns.fields.first().map(|f| &f.data) else {
        return Vec::new();
    };
    stl.records
        .iter()
        .map(|qr| {
            let rdata = match qr.fields.first().map(|f| &f.data) {
                Some(FieldData::SubTemplateList(r)) => match r.records.first() {
                    Some(rd) => rdata_from(r.template_id, rd),
                    None => Rdata::None,
                },
                _ => Rdata::None,
            };
            DnsRecord {
                qname: string(qr, 6871, 179),
                head: RecordHead {
                    ttl: uint(qr, 6871, 199) as u32,
                    rrtype: uint(qr, 6871, 175) as u16,
                    qr: uint(qr, 6871, 174) as u8,
                    aa: uint(qr, 6871, 176) as u8,
                    rcode: uint(qr, 6871, 177) as u8,
                    section: uint(qr, 6871, 178) as u8,
                    id: uint(qr, 6871, 226) as u16,
                },
                rdata,
            }
        })
        .collect()
}

fn rdata_from(tid: u16, r: &DataRecord<'_>) -> Rdata {
    let c = 6871;
    match tid {
        0xCE01 => Rdata::A(match addr(r, 8, 27) {
            IpAddr::V4(a) => a,
            IpAddr::V6(_) => unreachable!(),
        }),
        0xCE02 => Rdata::Aaaa(match addr(r, 8, 27) {
            IpAddr::V6(a) => a,
            IpAddr::V4(_) => unreachable!(),
        }),
        0xCE03 => Rdata::Cname(string(r, c, 180)),
        0xCE04 => Rdata::Mx {
            exchange: string(r, c, 182),
            preference: uint(r, c, 181) as u16,
        },
        0xCE05 => Rdata::Ns(string(r, c, 183)),
        0xCE06 => Rdata::Ptr(string(r, c, 184)),
        0xCE07 => Rdata::Txt(string(r, c, 208)),
        0xCE08 => Rdata::Srv {
            target: string(r, c, 219),
            priority: uint(r, c, 216) as u16,
            weight: uint(r, c, 217) as u16,
            port: uint(r, c, 218) as u16,
        },
        0xCE09 => Rdata::Soa {
            mname: string(r, c, 214),
            rname: string(r, c, 215),
            serial: uint(r, c, 209) as u32,
            refresh: uint(r, c, 210) as u32,
            retry: uint(r, c, 211) as u32,
            expire: uint(r, c, 212) as u32,
            minimum: uint(r, c, 213) as u32,
        },
        0xCE0E => Rdata::Ds {
            digest: octets(r, c, 231),
            key_tag: uint(r, c, 228) as u16,
            algorithm: uint(r, c, 227) as u8,
            digest_type: uint(r, c, 238) as u8,
        },
        0xCE0F => Rdata::Rrsig {
            signer: string(r, c, 229),
            signature: octets(r, c, 230),
            // CERT's registry: 237 is dnsSignatureInception, 236 dnsSignatureExpiration (the
            // design note has the two numbers swapped; the template goes by name).
            inception: uint(r, c, 237) as u32,
            expiration: uint(r, c, 236) as u32,
            original_ttl: uint(r, c, 199) as u32,
            key_tag: uint(r, c, 228) as u16,
            type_covered: uint(r, c, 240) as u16,
            algorithm: uint(r, c, 227) as u8,
            labels: uint(r, c, 239) as u8,
        },
        0xCE11 => Rdata::Nsec {
            next_name: string(r, c, 234),
        },
        0xCE12 => Rdata::Dnskey {
            public_key: octets(r, c, 232),
            flags: uint(r, c, 241) as u16,
            protocol: uint(r, 0, 4) as u8,
            algorithm: uint(r, c, 227) as u8,
        },
        0xCE13 => Rdata::Nsec3 {
            salt: octets(r, c, 233),
            next_hashed: octets(r, c, 234),
            iterations: uint(r, c, 235) as u16,
            algorithm: uint(r, c, 227) as u8,
            // Not in YAF's template: lost on export.
            flags: 0,
        },
        other => panic!("rdata template {other:#06x} not expected"),
    }
}

/// Our `FlowRecord` carrying exactly what YAF's record carries.
pub fn flow_from_yaf(rec: &DataRecord<'_>) -> FlowRecord {
    let start_ns = ns_from_yaf(uint(rec, 0, 152), uint(rec, 0, 154));
    let end_ns = ns_from_yaf(uint(rec, 0, 153), uint(rec, 0, 155));
    let tcp_of = |r: &DataRecord<'_>| TcpInfo {
        isn: uint(r, 0, 184) as u32,
        rev_isn: uint(r, 29305, 184) as u32,
        initial_flags: uint(r, 6871, 14) as u8,
        union_flags: uint(r, 6871, 15) as u8,
        rev_initial_flags: uint(r, 6871, 16398) as u8,
        rev_union_flags: uint(r, 6871, 16399) as u8,
    };
    // `--silk`: the TCP fields are in the record itself.
    let mut tcp = field(rec, 0, 184).map(|_| tcp_of(rec));
    let mut dns = Vec::new();
    if let Some(FieldData::SubTemplateMultiList(stml)) = field(rec, 0, 293).map(|f| &f.data) {
        for e in &stml.entries {
            let Some(r) = e.records.first() else { continue };
            match e.template_id {
                0xC013 | 0xC003 => {
                    assert!(tcp.is_none(), "TCP fields both in the record and the STML");
                    tcp = Some(tcp_of(r))
                }
                0xCE00 => dns = dns_records(r),
                other => panic!("STML entry {other:#06x} not expected"),
            }
        }
    }
    FlowRecord {
        start_ns,
        end_ns,
        src: addr(rec, 8, 27),
        dst: addr(rec, 12, 28),
        sport: uint(rec, 0, 7) as u16,
        dport: uint(rec, 0, 11) as u16,
        proto: uint(rec, 0, 4) as u8,
        vlan: uint(rec, 0, 58) as u16,
        rev_vlan: uint(rec, 29305, 58) as u16,
        tos: uint(rec, 0, 5) as u8,
        rev_tos: uint(rec, 29305, 5) as u8,
        octets: uint(rec, 0, 85),
        rev_octets: uint(rec, 29305, 85),
        packets: uint(rec, 0, 86),
        rev_packets: uint(rec, 29305, 86),
        attributes: uint(rec, 6871, 40) as u16,
        rev_attributes: uint(rec, 6871, 16424) as u16,
        end_reason: uint(rec, 0, 136) as u8,
        app_label: uint(rec, 6871, 33) as u16,
        rev_delta_ns: uint(rec, 6871, 41) * 1_000,
        tcp,
        dns,
    }
}

/// True for YAF's top-level flow templates (0xB000 family).
pub fn is_flow_template(tid: u16) -> bool {
    tid & 0xF000 == 0xB000
}

// ---------------------------------------------------------------------------------------------
// Test collector and synthetic flows for the transport tests.

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A synthetic flow whose ports encode `i` (so the collector can tell flows apart).
pub fn synthetic_flow(i: u32) -> FlowRecord {
    let base = 1_700_000_000_000_000_000u64 + u64::from(i) * 1_000_000;
    FlowRecord {
        start_ns: base,
        end_ns: base + 500_000,
        src: IpAddr::V4(Ipv4Addr::new(10, 0, (i >> 8) as u8, i as u8)),
        dst: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 53)),
        sport: (i >> 16) as u16 | 0x8000,
        dport: i as u16,
        proto: 17,
        vlan: 0,
        rev_vlan: 0,
        tos: 0,
        rev_tos: 0,
        octets: 60,
        rev_octets: 120,
        packets: 1,
        rev_packets: 1,
        attributes: 0,
        rev_attributes: 0,
        end_reason: 1,
        app_label: 53,
        rev_delta_ns: 1_000_000,
        tcp: None,
        dns: vec![DnsRecord {
            qname: format!("host{i}.example."),
            head: RecordHead {
                ttl: 60,
                rrtype: 1,
                qr: 1,
                aa: 0,
                rcode: 0,
                section: 1,
                id: i as u16,
            },
            rdata: Rdata::A(Ipv4Addr::new(198, 51, 100, i as u8)),
        }],
    }
}

/// The flow index a synthetic flow's record carries.
pub fn synthetic_index(rec: &DataRecord<'_>) -> u32 {
    ((uint(rec, 0, 7) as u32 & 0x7FFF) << 16) | uint(rec, 0, 11) as u32
}

/// What a test collector saw on one connection.
#[derive(Debug, Default, Clone)]
pub struct ConnLog {
    pub flows: Vec<u32>,
    pub messages: usize,
    pub template_messages: usize,
    /// Data sets the session could not decode (no template): must stay 0.
    pub undecoded_sets: usize,
    pub stats_records: usize,
    pub tombstones: usize,
    /// Sequence-number gaps ipfix-model reported (RFC 7011 §3.1).
    pub seq_gaps: usize,
    /// Octets read from the connection (set by [`Collector`]).
    pub bytes: u64,
}

/// Decodes one IPFIX byte stream (a TCP connection's bytes or a file) into a `ConnLog`.
pub fn decode_stream(bytes: &[u8], session: &mut Session, log: &mut ConnLog) -> usize {
    let mut off = 0usize;
    while let Ok(Some(len)) = ipfix_model::complete_frame_len(&bytes[off..], 65_535, off as u64) {
        let raw = &bytes[off..off + len];
        let msg = session.decode(raw, off as u64).expect("collector decode");
        log.messages += 1;
        log.seq_gaps += msg
            .warnings
            .iter()
            .filter(|w| matches!(w, ipfix_model::Warning::SequenceGap { .. }))
            .count();
        let mut has_data = false;
        for set in &msg.sets {
            match &set.content {
                SetContent::Data { records, .. } => {
                    has_data = true;
                    for r in records {
                        match set.id {
                            t if is_flow_template(t) => log.flows.push(synthetic_index(r)),
                            0xD003 => log.stats_records += 1,
                            0xD004 => log.tombstones += 1,
                            _ => {}
                        }
                    }
                }
                SetContent::Undecoded(_) if set.id >= 256 => log.undecoded_sets += 1,
                _ => {}
            }
        }
        if !has_data {
            log.template_messages += 1;
        }
        off += len;
    }
    off
}

/// A TCP collector on 127.0.0.1 that can be killed and restarted on the same port.
pub struct Collector {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    /// While set the collector reads nothing (a hung process): data piles up unread.
    pub paused: Arc<AtomicBool>,
    pub conns: Arc<Mutex<Vec<ConnLog>>>,
    thread: Option<JoinHandle<()>>,
}

impl Collector {
    pub fn start(addr: SocketAddr) -> Self {
        let listener = TcpListener::bind(addr).expect("bind collector");
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let paused = Arc::new(AtomicBool::new(false));
        let conns = Arc::new(Mutex::new(Vec::new()));
        let (s, c, pz) = (Arc::clone(&stop), Arc::clone(&conns), Arc::clone(&paused));
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let Ok((mut stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_millis(10)))
                    .unwrap();
                let idx = {
                    let mut v = c.lock().unwrap();
                    v.push(ConnLog::default());
                    v.len() - 1
                };
                let mut session = Session::new();
                let mut buf = Vec::new();
                let mut chunk = [0u8; 65536];
                loop {
                    if s.load(Ordering::SeqCst) {
                        break; // killed: drop the connection with whatever is unread
                    }
                    if pz.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(2));
                        continue;
                    }
                    match stream.read(&mut chunk) {
                        Ok(0) => break,
                        Ok(n) => {
                            buf.extend_from_slice(&chunk[..n]);
                            let mut log = c.lock().unwrap();
                            log[idx].bytes += n as u64;
                            let used = decode_stream(&buf, &mut session, &mut log[idx]);
                            buf.drain(..used);
                        }
                        Err(e)
                            if e.kind() == std::io::ErrorKind::WouldBlock
                                || e.kind() == std::io::ErrorKind::TimedOut => {}
                        Err(_) => break,
                    }
                }
            }
        });
        Self {
            addr,
            stop,
            paused,
            conns,
            thread: Some(thread),
        }
    }

    /// All flow indices received, over all connections.
    pub fn flows(&self) -> Vec<u32> {
        self.conns
            .lock()
            .unwrap()
            .iter()
            .flat_map(|c| c.flows.clone())
            .collect()
    }

    pub fn logs(&self) -> Vec<ConnLog> {
        self.conns.lock().unwrap().clone()
    }

    /// Waits until `n` flows have arrived (or panics after 10 s).
    pub fn wait_flows(&self, n: usize) {
        let t = Instant::now();
        while self.flows().len() < n {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "only {} of {n} flows arrived",
                self.flows().len()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Kills the collector: listener and connection closed at once.
    pub fn kill(mut self) -> Vec<ConnLog> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.logs()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
