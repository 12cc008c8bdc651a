//! Throughput and memory of the packet path over a generated capture of DNS
//! traffic (1M packets by default): file reading, decoding, flow table and
//! DNS inspection without export, with IPFIX export to a file (inline, and
//! on its own thread through `ThreadedSink`), and the real `flowmeter`
//! binary end to end on the same capture. A bench binary rather than
//! criterion: peak memory is a per-process figure, and one pass over a
//! million packets is the unit of work YAF's figure (490k packets/s with
//! DPI) refers to.
//!
//! Every run is a process of its own. A second run in the same process
//! would find the allocator's memory already faulted in (clearing the pages
//! of ~180 MB is about 7 % of the binary's CPU time) and its memory growth
//! hidden: an in-process median of several runs was about 0.1 s faster
//! than the binary, which pays both on every run.
//!
//! Run: `cargo bench -p flowmeter --bench throughput`. Environment:
//! - `FLOWMETER_BENCH_PACKETS=N`: capture size (default 1,000,000);
//! - `FLOWMETER_BENCH_RUNS=N`: runs per mode (default 3), medians reported;
//! - `FLOWMETER_BENCH_MODES=prefix;prefix`: some modes only (e.g. `binary;DPI + IPFIX file, 2`);
//! - `FLOWMETER_BENCH_SPAN_SECS=S`: spread the same number of packets over
//!   S seconds of packet time (default: the generator's 60,000 transactions
//!   per second, about 8 s, so every flow is still active at the end). With
//!   a span well above the 300 s idle timeout, flows end by idle timeout
//!   during the run, as in a long capture or live traffic: that is the case
//!   where peak memory divided by all flows of the run (YAF's published
//!   figure) means something;
//! - `FLOWMETER_BENCH_KEEP=1`: keep each export mode's last output in the
//!   temp dir, to compare the files;
//! - `FLOWMETER_BENCH_REUSE=1`: measure each in-process run after an
//!   unmeasured one in the same process (how this bench used to measure),
//!   to see what reused memory is worth.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use flowmeter::capture::file::FileSource;
use flowmeter::capture::generator::{write_pcap, GenConfig, VERSION};
use flowmeter::capture::{PacketSource, Poll};
use flowmeter::config::{ExportConfig, MeterConfig};
use flowmeter::export::{self, Exporter, SinkOptions};
use flowmeter::flow::{CountingSink, FlowConfig, FlowSink, FlowTable, ThreadedSink};
use flowmeter::pipeline::Meter;

/// The same allocator as the `flowmeter` binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The binary this bench runs end to end (built by `cargo bench` with the
/// same profile).
const BINARY: &str = env!("CARGO_BIN_EXE_flowmeter");

/// YAF 2.16.4 with DNS DPI on the same kind of machine (design note
/// yaf-ipfix.md, "YAF's speed"): 1M DNS packets, 350,000 flows, median
/// 2.04 s, 56 MB peak memory.
const YAF_SECS: f64 = 2.04;
const YAF_PEAK_BYTES: f64 = 56e6;
const YAF_FLOWS: f64 = 350_000.0;

/// A lower bound of YAF's memory per active two-way DNS flow, from its
/// source (yaftab.c): on a direction's first payload packet,
/// yfFlowPktGenericTpt (UDP) and the TCP path allocate `max_payload` octets
/// (`yg_slice_alloc0(flowtab->max_payload)`) plus YAF_MAX_PKT_BOUNDARY = 25
/// `size_t` payload boundaries, and keep both until the flow is freed; a
/// DNS flow has payload both ways. The flow node (yfFlowNode_t: queue
/// links, a yfFlow_t with two yfFlowVal_t, the key with room for IPv6
/// addresses, times, MACs, hook context pointers) is about 300 octets on a
/// 64-bit build; the GHashTable entry and the DNS plugin's own per-flow
/// state come on top, hence "at least". The corpus's YAF files were made
/// with `--max-payload=2048`.
fn yaf_active_flow_lower_bound(max_payload: u64) -> u64 {
    const NODE: u64 = 300;
    const BOUNDARIES: u64 = 25 * 8;
    NODE + 2 * (max_payload + BOUNDARIES)
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Decode + flow table, no DPI, flows counted and dropped.
    NoDpi,
    /// With DNS DPI, flows counted and dropped.
    Dpi,
    /// YAF IPFIX written to a file by the packet thread.
    File,
    /// The same through `ThreadedSink`: written by a second thread, as the binary does.
    ThreadedFile,
    /// The `flowmeter` binary: `flowmeter --in CAPTURE --out FILE`.
    Binary,
}

const MODES: [(&str, Mode); 5] = [
    ("decode + flows, no DPI", Mode::NoDpi),
    ("decode + flows + DNS DPI", Mode::Dpi),
    ("DPI + IPFIX file, 1 thread", Mode::File),
    ("DPI + IPFIX file, 2 threads", Mode::ThreadedFile),
    ("binary end to end", Mode::Binary),
];

fn env_num(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

/// The capture for `packets` packets over `span_secs` of packet time
/// (`None`: the generator's default rate), generated once into the temp dir.
fn capture(packets: usize, span_secs: Option<u64>) -> PathBuf {
    let name = match span_secs {
        None => format!("flowmeter-bench-v{VERSION}-{packets}.pcap"),
        Some(s) => format!("flowmeter-bench-v{VERSION}-{packets}-span{s}s.pcap"),
    };
    let path = std::env::temp_dir().join(name);
    if !path.exists() {
        let mut cfg = GenConfig {
            packets,
            ..GenConfig::default()
        };
        if let Some(s) = span_secs {
            // The generator writes about 2.12 packets per transaction (UDP
            // query and response, a few TCP handshakes); its rate is in
            // transactions per second of packet time.
            let transactions = packets as f64 / 2.12;
            cfg.rate = ((transactions / s.max(1) as f64).ceil() as u32).max(1);
        }
        let t = Instant::now();
        let tmp = path.with_extension("tmp");
        let f = std::io::BufWriter::new(std::fs::File::create(&tmp).unwrap());
        let st = write_pcap(&cfg, f).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        eprintln!(
            "generated {} ({} packets, {} MB, {} UDP + {} TCP transactions, {} per second) in {:.1}s",
            path.display(),
            st.packets,
            st.bytes / 1_000_000,
            st.udp_transactions,
            st.tcp_transactions,
            cfg.rate,
            t.elapsed().as_secs_f64()
        );
    }
    path
}

/// User + system CPU seconds from a /proc stat file.
fn stat_cpu(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the ")" that ends the command name; utime, stime are 14, 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Linux USER_HZ is 100 on every mainstream configuration.
    (ticks(11) + ticks(12)) / 100.0
}

/// What one run measured; a child prints it as one `RESULT k=v ...` line.
#[derive(Debug, Default, Clone, Copy)]
struct Run {
    secs: f64,
    /// CPU seconds, all threads.
    cpu: f64,
    /// CPU of the packet thread alone.
    main_cpu: f64,
    /// CPU of the export thread (the binary: DNS decoding, IPFIX encoding, writing).
    export_cpu: f64,
    packets: u64,
    flows: u64,
    dns_records: u64,
    peak_flows: u64,
    /// Peak resident memory of the process (VmHWM).
    peak_kib: u64,
    /// Peak resident memory minus what the process held before the run.
    growth_kib: u64,
    /// IPFIX octets written (export modes).
    written: u64,
}

impl Run {
    fn line(&self) -> String {
        format!(
            "RESULT secs={} cpu={} main_cpu={} export_cpu={} packets={} flows={} dns_records={} peak_flows={} peak_kib={} growth_kib={} written={}",
            self.secs,
            self.cpu,
            self.main_cpu,
            self.export_cpu,
            self.packets,
            self.flows,
            self.dns_records,
            self.peak_flows,
            self.peak_kib,
            self.growth_kib,
            self.written
        )
    }

    fn parse(line: &str) -> Option<Run> {
        let mut r = Run::default();
        for kv in line.strip_prefix("RESULT ")?.split_whitespace() {
            let (k, v) = kv.split_once('=')?;
            let int = || v.parse::<u64>().ok();
            match k {
                "secs" => r.secs = v.parse().ok()?,
                "cpu" => r.cpu = v.parse().ok()?,
                "main_cpu" => r.main_cpu = v.parse().ok()?,
                "export_cpu" => r.export_cpu = v.parse().ok()?,
                "packets" => r.packets = int()?,
                "flows" => r.flows = int()?,
                "dns_records" => r.dns_records = int()?,
                "peak_flows" => r.peak_flows = int()?,
                "peak_kib" => r.peak_kib = int()?,
                "growth_kib" => r.growth_kib = int()?,
                "written" => r.written = int()?,
                _ => {}
            }
        }
        Some(r)
    }
}

/// The sink of one in-process run; `close` ends it as the binary does (the
/// exporter's last messages and YAF's tombstone record are written then).
enum Sink {
    Count(CountingSink),
    File(Box<Exporter>),
    Threaded(ThreadedSink<Exporter>),
}

impl Sink {
    fn open(mode: Mode, file: &Path) -> Self {
        let exporter = || {
            export::open(
                &ExportConfig::file(file.display().to_string()),
                &SinkOptions::default(),
            )
            .unwrap()
        };
        match mode {
            Mode::File => Sink::File(Box::new(exporter())),
            Mode::ThreadedFile => Sink::Threaded(ThreadedSink::new(exporter()).unwrap()),
            Mode::NoDpi | Mode::Dpi | Mode::Binary => Sink::Count(CountingSink::default()),
        }
    }

    fn as_dyn(&mut self) -> &mut dyn FlowSink {
        match self {
            Sink::Count(s) => s,
            Sink::File(s) => s,
            Sink::Threaded(s) => s,
        }
    }

    fn close(self) {
        match self {
            Sink::Count(_) => {}
            Sink::File(s) => {
                s.close().unwrap();
            }
            Sink::Threaded(s) => {
                s.into_inner().unwrap().close().unwrap();
            }
        }
    }
}

fn out_file(mode: Mode) -> PathBuf {
    std::env::temp_dir().join(format!(
        "flowmeter-bench-out-{}-{}.yaf",
        mode as u8,
        std::process::id()
    ))
}

/// Keeps (FLOWMETER_BENCH_KEEP) or removes an export mode's output.
fn dispose(file: &Path, mode: Mode) {
    if std::env::var_os("FLOWMETER_BENCH_KEEP").is_some() {
        let kept = std::env::temp_dir().join(format!("flowmeter-bench-out-{}.yaf", mode as u8));
        let _ = std::fs::rename(file, kept);
    } else {
        let _ = std::fs::remove_file(file);
    }
}

/// One pass in this process: read + decode + flow table (+ DPI) (+ export).
fn run_in_process(path: &Path, mode: Mode) -> Run {
    let cfg = match mode {
        Mode::NoDpi => MeterConfig {
            flow: FlowConfig {
                dpi: None,
                ..FlowConfig::default()
            },
            ..MeterConfig::default()
        },
        _ => MeterConfig::default(),
    };
    let file = out_file(mode);
    let rss0 = flowmeter::procfs::self_status_kib("VmRSS:");
    let cpu0 = stat_cpu("/proc/self/stat");
    let main0 = stat_cpu("/proc/thread-self/stat");
    let t = Instant::now();
    let mut src = FileSource::open(path).unwrap();
    let mut meter = Meter::new(&cfg);
    let mut sink = Sink::open(mode, &file);
    loop {
        match src.poll(1024, &mut |p| meter.packet(p)).unwrap() {
            Poll::Eof => break,
            Poll::Packets(_) | Poll::Idle => {}
        }
        meter.drain(sink.as_dyn()).unwrap();
    }
    let stats = meter.finish(sink.as_dyn()).unwrap();
    sink.close();
    let secs = t.elapsed().as_secs_f64();
    let cpu = stat_cpu("/proc/self/stat") - cpu0;
    let main_cpu = stat_cpu("/proc/thread-self/stat") - main0;
    // The high-water mark covers the whole run, wherever the peak was (at
    // the end of input for the default capture, earlier with a long span).
    let peak = flowmeter::procfs::self_status_kib("VmHWM:");
    let written = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    dispose(&file, mode);
    Run {
        secs,
        cpu,
        main_cpu,
        // The export thread (threaded mode) notes its CPU time when it ends, in `close`.
        export_cpu: thread_cpu(
            &format!("thread_cpu_secs={}", flowmeter::procfs::thread_cpu_report()),
            "export",
        ),
        packets: stats.packets,
        flows: stats.flows_exported,
        dns_records: stats.dns_records,
        peak_flows: stats.peak_flows,
        peak_kib: peak,
        growth_kib: peak.saturating_sub(rss0),
        written,
    }
}

/// `value` of ` key=value` in text (the binary's summary and log lines).
fn field(text: &str, key: &str) -> Option<u64> {
    let at = text.find(key)? + key.len();
    let digits: String = text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// A thread's CPU seconds from the binary's `thread_cpu_secs=packet:0.512,export:0.401,...`
/// log field (0 when absent).
fn thread_cpu(text: &str, role: &str) -> f64 {
    text.split_once("thread_cpu_secs=")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|list| {
            list.split(',')
                .find_map(|kv| kv.strip_prefix(role)?.strip_prefix(':'))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// The binary on the capture, as a user runs it, from a process that has
/// no other child: the children's CPU time in /proc/self/stat is then the
/// binary's alone.
fn run_binary(path: &Path) -> Run {
    let file = out_file(Mode::Binary);
    let _ = std::fs::remove_file(&file);
    let cpu0 = children_cpu();
    let t = Instant::now();
    // --log-level info only adds the one "done" line, with the peak flow
    // count and the process's peak memory (VmHWM, read just before exit).
    let out = Command::new(BINARY)
        .arg("--in")
        .arg(path)
        .arg("--out")
        .arg(&file)
        .args(["--log-level", "info"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let secs = t.elapsed().as_secs_f64();
    let cpu = children_cpu() - cpu0;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{BINARY} failed:\n{err}");
    let written = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    dispose(&file, Mode::Binary);
    // "flowmeter: N packets (...), F flows, D DNS records, B IPFIX bytes exported"
    let summary = err
        .lines()
        .find(|l| l.starts_with("flowmeter: "))
        .unwrap_or("");
    // The number written just before `what`.
    let num_before = |what: &str| -> u64 {
        summary
            .find(what)
            .and_then(|end| {
                let head = &summary[..end];
                let start = head
                    .rfind(|c: char| !c.is_ascii_digit())
                    .map_or(0, |i| i + 1);
                head[start..].parse().ok()
            })
            .unwrap_or(0)
    };
    let peak = field(&err, "peak_rss_kib=").unwrap_or(0);
    Run {
        secs,
        cpu,
        main_cpu: thread_cpu(&err, "packet"),
        export_cpu: thread_cpu(&err, "export"),
        packets: num_before(" packets"),
        flows: num_before(" flows"),
        dns_records: num_before(" DNS records"),
        peak_flows: field(&err, "peak_flows=").unwrap_or(0),
        peak_kib: peak,
        growth_kib: peak,
        written,
    }
}

/// CPU seconds of this process's waited-for children (cutime + cstime).
fn children_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // cutime and cstime are fields 16 and 17.
    (ticks(13) + ticks(14)) / 100.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn main() {
    // `cargo bench` passes --bench; nothing else to parse.
    if let Ok(name) = std::env::var("FLOWMETER_BENCH_CHILD") {
        // As the binary does, so that the modes compare.
        flowmeter::procfs::no_huge_pages().unwrap();
        let path = PathBuf::from(std::env::var("FLOWMETER_BENCH_CAPTURE").unwrap());
        let (_, mode) = MODES.iter().find(|(n, _)| *n == name).unwrap();
        let r = match mode {
            Mode::Binary => run_binary(&path),
            m => {
                if std::env::var_os("FLOWMETER_BENCH_REUSE").is_some() {
                    // The old way, for comparison: a first run leaves the
                    // allocator's memory faulted in for the measured one.
                    run_in_process(&path, *m);
                }
                run_in_process(&path, *m)
            }
        };
        println!("{}", r.line());
        return;
    }
    let packets = env_num("FLOWMETER_BENCH_PACKETS").unwrap_or(1_000_000) as usize;
    let runs = env_num("FLOWMETER_BENCH_RUNS").unwrap_or(3).max(1) as usize;
    let span = env_num("FLOWMETER_BENCH_SPAN_SECS");
    let modes = std::env::var("FLOWMETER_BENCH_MODES").unwrap_or_default();
    let path = capture(packets, span);
    // Warm the page cache so that no run is charged for disk reads.
    {
        let mut f = std::fs::File::open(&path).unwrap();
        let mut buf = vec![0u8; 1 << 20];
        while f.read(&mut buf).unwrap() > 0 {}
    }
    println!(
        "flowmeter throughput, {packets} packets of generated DNS traffic{}; {runs} runs per mode, each in a fresh process; load average before: {}",
        match span {
            Some(s) => format!(" over {s} s of packet time"),
            None => " (all flows still active at the end)".into(),
        },
        load_average()
    );
    println!(
        "flow table entry: {} bytes (+ hash-table slack, + DNS state when DNS)",
        FlowTable::entry_size()
    );
    let me = std::env::current_exe().unwrap();
    let selected: Vec<(&str, Mode)> = MODES
        .into_iter()
        .filter(|(name, _)| {
            modes.is_empty() || modes.split(';').any(|m| name.starts_with(m.trim()))
        })
        .collect();
    // Round-robin over the modes, so that a change in the machine's load
    // (it is shared) weighs on every mode alike rather than on one.
    let mut results: Vec<Vec<Run>> = vec![Vec::new(); selected.len()];
    for _ in 0..runs {
        for ((name, _), rs) in selected.iter().zip(&mut results) {
            let out = Command::new(&me)
                .arg("--bench")
                .env("FLOWMETER_BENCH_CHILD", name)
                .env("FLOWMETER_BENCH_CAPTURE", &path)
                .stderr(Stdio::inherit())
                .output()
                .unwrap();
            assert!(out.status.success(), "mode {name} failed");
            let text = String::from_utf8_lossy(&out.stdout);
            rs.push(
                text.lines()
                    .find_map(Run::parse)
                    .unwrap_or_else(|| panic!("mode {name}: no result in {text:?}")),
            );
        }
    }
    let mut medians: Vec<(Mode, f64, f64, Run)> = Vec::new();
    for ((name, mode), rs) in selected.into_iter().zip(results) {
        let walls: Vec<f64> = rs.iter().map(|r| r.secs).collect();
        let lo = walls.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = walls.iter().copied().fold(0.0, f64::max);
        let t = median(walls);
        let c = median(rs.iter().map(|r| r.cpu).collect());
        let peak = median(rs.iter().map(|r| r.peak_kib as f64).collect());
        let growth = median(rs.iter().map(|r| r.growth_kib as f64).collect());
        let r = rs[rs.len() - 1];
        println!(
            "{name:27} median wall {t:.3}s (runs {lo:.3}-{hi:.3}) = {:>9.0} packets/s, {:>7.0} flows/s; CPU (all threads) {c:.3}s = {:>9.0} packets/s",
            r.packets as f64 / t,
            r.flows as f64 / t,
            r.packets as f64 / c.max(1e-9),
        );
        if mode == Mode::ThreadedFile {
            let m = median(rs.iter().map(|r| r.main_cpu).collect());
            println!(
                "{:27} packet thread CPU {m:.3}s = {:>9.0} packets/s (the wall time with a core free for export)",
                "",
                r.packets as f64 / m.max(1e-9),
            );
        }
        if mode == Mode::Binary {
            // The larger of the two is the wall time's floor with a core for each.
            let m = median(rs.iter().map(|r| r.main_cpu).collect());
            let x = median(rs.iter().map(|r| r.export_cpu).collect());
            println!(
                "{:27} CPU by thread: packet {m:.3}s, export {x:.3}s; the busier one alone = {:>9.0} packets/s",
                "",
                r.packets as f64 / m.max(x).max(1e-9),
            );
        }
        let per = |kib: f64, n: u64| kib * 1024.0 / n.max(1) as f64;
        println!(
            "{:27} {} flows, peak {} active, {} DNS records{}",
            "",
            r.flows,
            r.peak_flows,
            r.dns_records,
            if r.written > 0 {
                format!(", {:.1} MB of IPFIX written", r.written as f64 / 1e6)
            } else {
                String::new()
            }
        );
        // Peak RSS is the whole process, as YAF's "peak memory" is; the
        // growth leaves out what the process held before the run (the bench
        // binary itself). The export modes' figures include the exporter's
        // buffers and the flows in flight; the count modes' are the meter's.
        println!(
            "{:27} peak RSS {:.1} MiB = {:.0} B per active flow, {:.0} B per flow of the run{}",
            "",
            peak / 1024.0,
            per(peak, r.peak_flows),
            per(peak, r.flows),
            if mode == Mode::Binary {
                String::new()
            } else {
                format!(
                    "; growth during the run {:.1} MiB = {:.0} B per active flow",
                    growth / 1024.0,
                    per(growth, r.peak_flows)
                )
            },
        );
        medians.push((mode, t, lo, r));
    }
    println!("load average after: {}", load_average());
    // YAF's figures beside ours. Its 56 MB is the peak of a run divided by
    // every flow of that run; at --max-payload 2048 its active two-way DNS
    // flows need at least the bound below each, so its 350,000 flows were
    // never all active at once (56 MB holds at most ~12,000 of them). The
    // like-for-like comparisons are per active flow against the bound, and
    // per flow of the run on a capture whose flows end during the run
    // (FLOWMETER_BENCH_SPAN_SECS).
    println!(
        "YAF 2.16.4, same kind of machine, 1M DNS packets with DPI: {YAF_SECS} s = {:.0} packets/s; 56 MB peak / 350,000 flows of the run = {:.0} B per flow of the run",
        1e6 / YAF_SECS,
        YAF_PEAK_BYTES / YAF_FLOWS
    );
    println!(
        "YAF per active two-way DNS flow, lower bound from its source (2 x (max_payload + 25 x 8 B) + ~300 B flow node): {} B at --max-payload 2048 (the corpus runs), {} B at 512",
        yaf_active_flow_lower_bound(2048),
        yaf_active_flow_lower_bound(512)
    );
    // YAF's time is from a quiet machine: on a loaded one the median
    // understates the ratio, and the fastest run is the nearer estimate.
    for (mode, t, lo, r) in &medians {
        if matches!(mode, Mode::ThreadedFile | Mode::Binary) && r.packets > 0 {
            let yaf_rate = 1e6 / YAF_SECS;
            println!(
                "{:27} {:.2}x YAF's packet rate (median run; fastest run {:.2}x); YAF's figure is from a quiet machine",
                MODES.iter().find(|(_, m)| m == mode).map_or("", |(n, _)| n),
                r.packets as f64 / t / yaf_rate,
                r.packets as f64 / lo / yaf_rate,
            );
        }
    }
}
