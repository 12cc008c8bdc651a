//! Throughput and memory of the packet path: file reading, decoding, flow
//! table and DNS inspection, without export and with IPFIX export to a
//! file (inline, and on its own thread through `ThreadedSink`), over a
//! generated 1M-packet DNS capture. A bench binary rather than criterion: peak memory (VmHWM) is a
//! per-process figure, and one pass over a million packets is the unit of
//! work YAF's figure (490k packets/s with DPI) refers to.
//!
//! Run: `cargo bench -p flowmeter --bench throughput`
//! (FLOWMETER_BENCH_PACKETS=N for another size, FLOWMETER_BENCH_RUNS=N runs
//! per mode, FLOWMETER_BENCH_MODES=prefix;prefix for some modes only). Each
//! mode runs in a process of its own.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Instant;

use flowmeter::capture::file::FileSource;
use flowmeter::capture::generator::{write_pcap, GenConfig};
use flowmeter::capture::{PacketSource, Poll};
use flowmeter::config::{ExportConfig, MeterConfig};
use flowmeter::export::{self, Exporter, SinkOptions};
use flowmeter::flow::{CountingSink, FlowConfig, FlowSink, FlowTable, ThreadedSink};
use flowmeter::pipeline::Meter;

/// The same allocator as the `flowmeter` binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn capture(packets: usize) -> PathBuf {
    let path = std::env::temp_dir().join(format!("flowmeter-bench-{packets}.pcap"));
    if !path.exists() {
        let t = Instant::now();
        let tmp = path.with_extension("tmp");
        let f = std::io::BufWriter::new(std::fs::File::create(&tmp).unwrap());
        let st = write_pcap(
            &GenConfig {
                packets,
                ..GenConfig::default()
            },
            f,
        )
        .unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        eprintln!(
            "generated {} ({} packets, {} MB, {} UDP + {} TCP transactions) in {:.1}s",
            path.display(),
            st.packets,
            st.bytes / 1_000_000,
            st.udp_transactions,
            st.tcp_transactions,
            t.elapsed().as_secs_f64()
        );
    }
    path
}

/// User + system CPU seconds of this process (from /proc/self/stat), so
/// figures stay meaningful on a machine shared with other work.
fn cpu_secs() -> f64 {
    stat_cpu("/proc/self/stat")
}

/// The same for the calling thread alone: with `ThreadedSink`, the packet
/// thread's CPU time is what the wall time would be with a core free for the
/// export thread.
fn thread_cpu_secs() -> f64 {
    stat_cpu("/proc/thread-self/stat")
}

fn stat_cpu(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the ")" that ends the command name; utime, stime are 14, 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Linux USER_HZ is 100 on every mainstream configuration.
    (ticks(11) + ticks(12)) / 100.0
}

struct Run {
    secs: f64,
    cpu: f64,
    /// CPU of the packet thread alone.
    main_cpu: f64,
    packets: u64,
    flows: u64,
    dns_records: u64,
    peak_flows: u64,
    rss_growth_kib: u64,
    /// IPFIX octets written (export modes).
    written: u64,
}

/// Where the flows go.
#[derive(Clone, Copy, PartialEq)]
enum Out {
    /// Counted and dropped.
    Count,
    /// YAF IPFIX written to a file by the packet thread.
    File,
    /// The same through `ThreadedSink`: written by a second thread.
    ThreadedFile,
}

fn export_cfg(path: &std::path::Path) -> ExportConfig {
    ExportConfig::file(path.display().to_string())
}

/// The sink of one run; `close` ends it as the binary does (the exporter's
/// last messages and YAF's tombstone record are written then).
enum Sink {
    Count(CountingSink),
    File(Box<Exporter>),
    Threaded(ThreadedSink<Exporter>),
}

impl Sink {
    fn open(out: Out, file: &std::path::Path) -> Self {
        let exporter = || export::open(&export_cfg(file), &SinkOptions::default()).unwrap();
        match out {
            Out::Count => Sink::Count(CountingSink::default()),
            Out::File => Sink::File(Box::new(exporter())),
            Out::ThreadedFile => Sink::Threaded(ThreadedSink::new(exporter()).unwrap()),
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

/// One pass: read + decode + flow table (+ DPI when configured) (+ export).
fn run(path: &PathBuf, cfg: &MeterConfig, out: Out) -> Run {
    // Warm the page cache so the first mode is not charged for disk reads
    // (in small reads: one big buffer would inflate the peak RSS figure).
    {
        use std::io::Read;
        let mut f = std::fs::File::open(path).unwrap();
        let mut buf = vec![0u8; 1 << 20];
        while f.read(&mut buf).unwrap() > 0 {}
    }
    let rss0 = status_kib("VmRSS:");
    let cpu0 = cpu_secs();
    let main0 = thread_cpu_secs();
    let t = Instant::now();
    let mut src = FileSource::open(path).unwrap();
    let mut meter = Meter::new(cfg);
    let file = std::env::temp_dir().join(format!("flowmeter-bench-out-{}.yaf", std::process::id()));
    let mut sink = Sink::open(out, &file);
    let mut rss_peak = rss0;
    loop {
        match src.poll(1024, &mut |p| meter.packet(p)).unwrap() {
            Poll::Eof => break,
            Poll::Packets(_) | Poll::Idle => {}
        }
        meter.drain(sink.as_dyn()).unwrap();
    }
    // Every flow of the capture is still active here (it lasts less than
    // the idle timeout): the table is at its largest.
    rss_peak = rss_peak.max(status_kib("VmRSS:"));
    let stats = meter.finish(sink.as_dyn()).unwrap();
    sink.close();
    let secs = t.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu0;
    let main_cpu = thread_cpu_secs() - main0;
    let written = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    // FLOWMETER_BENCH_KEEP=1 keeps the last output of each export mode, to
    // compare the threaded exporter's file with the inline one.
    if std::env::var_os("FLOWMETER_BENCH_KEEP").is_some() {
        let kept = std::env::temp_dir().join(format!("flowmeter-bench-out-{}.yaf", out as u8));
        let _ = std::fs::rename(&file, &kept);
    } else {
        let _ = std::fs::remove_file(&file);
    }
    Run {
        secs,
        cpu,
        main_cpu,
        packets: stats.packets,
        flows: stats.flows_exported,
        dns_records: stats.dns_records,
        peak_flows: stats.peak_flows,
        rss_growth_kib: rss_peak.saturating_sub(rss0),
        written,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes --bench; nothing else to parse.
    let packets: usize = std::env::var("FLOWMETER_BENCH_PACKETS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    // FLOWMETER_BENCH_MODES=prefix;prefix selects modes by name prefix.
    let modes = std::env::var("FLOWMETER_BENCH_MODES").unwrap_or_default();
    let mode_names = [
        "decode + flows, no DPI",
        "decode + flows + DNS DPI",
        "DPI + IPFIX file, 1 thread",
        "DPI + IPFIX file, 2 threads",
    ];
    let runs: usize = std::env::var("FLOWMETER_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let path = capture(packets);
    let with_dpi = MeterConfig::default();
    let no_dpi = MeterConfig {
        flow: FlowConfig {
            dpi: None,
            ..FlowConfig::default()
        },
        ..MeterConfig::default()
    };
    if std::env::var_os("FLOWMETER_BENCH_CHILD").is_none() {
        println!("flowmeter throughput, {packets} packets of generated DNS traffic");
        println!(
            "flow table entry: {} bytes (+ hash-table slack, + DNS state when DNS)",
            FlowTable::entry_size()
        );
    }
    // Each mode in a process of its own: RSS growth is measured against the
    // memory the allocator already holds, so a mode run after another one
    // would reuse that memory and look smaller than it is.
    if modes.is_empty() {
        let me = std::env::current_exe().unwrap();
        for name in mode_names {
            let ok = std::process::Command::new(&me)
                .arg("--bench")
                .env("FLOWMETER_BENCH_MODES", name)
                .env("FLOWMETER_BENCH_CHILD", "1")
                .status()
                .unwrap()
                .success();
            assert!(ok, "mode {name} failed");
        }
        return;
    }
    for (name, cfg, out) in [
        (mode_names[0], &no_dpi, Out::Count),
        (mode_names[1], &with_dpi, Out::Count),
        (mode_names[2], &with_dpi, Out::File),
        (mode_names[3], &with_dpi, Out::ThreadedFile),
    ] {
        if !modes.split(';').any(|m| name.starts_with(m.trim())) {
            continue;
        }
        let (mut walls, mut cpus, mut mains, mut growth, mut last) =
            (Vec::new(), Vec::new(), Vec::new(), None, None);
        for _ in 0..runs {
            let r = run(&path, cfg, out);
            walls.push(r.secs);
            cpus.push(r.cpu);
            mains.push(r.main_cpu);
            growth.get_or_insert(r.rss_growth_kib);
            last = Some(r);
        }
        let r = last.unwrap();
        let growth = growth.unwrap_or(0);
        let lo = walls.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = walls.iter().copied().fold(0.0, f64::max);
        let (t, c) = (median(walls), median(cpus));
        println!(
            "{name:27} median wall {t:.3}s (runs {lo:.3}-{hi:.3}) = {:>9.0} packets/s, {:>7.0} flows/s; CPU (all threads) {c:.3}s = {:>9.0} packets/s",
            r.packets as f64 / t,
            r.flows as f64 / t,
            r.packets as f64 / c.max(1e-9),
        );
        if out == Out::ThreadedFile {
            let m = median(mains);
            println!(
                "{:27} packet thread CPU {m:.3}s = {:>9.0} packets/s (the wall time with a core free for export)",
                "",
                r.packets as f64 / m.max(1e-9),
            );
        }
        // The export modes' growth includes the exporter's buffers and the
        // flows in flight: the memory per flow is the count modes' figure.
        if out != Out::Count {
            println!(
                "{:27} {} flows, {} DNS records, {:.1} MB of IPFIX written",
                "",
                r.flows,
                r.dns_records,
                r.written as f64 / 1e6
            );
            continue;
        }
        println!(
            "{:27} {} flows, peak {} active, {} DNS records; RSS growth at peak {:.1} MiB = {:.0} bytes per active flow",
            "",
            r.flows,
            r.peak_flows,
            r.dns_records,
            growth as f64 / 1024.0,
            growth as f64 * 1024.0 / r.peak_flows.max(1) as f64
        );
        println!(
            "{:27} process peak so far (VmHWM) {:.1} MiB",
            "",
            status_kib("VmHWM:") as f64 / 1024.0
        );
    }
}
