//! Throughput and memory of the packet path: file reading, decoding, flow
//! table and DNS inspection (no export), over a generated 1M-packet DNS
//! capture. A bench binary rather than criterion: peak memory (VmHWM) is a
//! per-process figure, and one pass over a million packets is the unit of
//! work YAF's figure (490k packets/s with DPI) refers to.
//!
//! Run: `cargo bench -p flowmeter --bench throughput`
//! (FLOWMETER_BENCH_PACKETS=N for another size).
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Instant;

use flowmeter::capture::file::FileSource;
use flowmeter::capture::generator::{write_pcap, GenConfig};
use flowmeter::capture::{PacketSource, Poll};
use flowmeter::config::MeterConfig;
use flowmeter::flow::{CountingSink, FlowConfig, FlowTable};
use flowmeter::pipeline::Meter;

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

struct Run {
    secs: f64,
    packets: u64,
    flows: u64,
    dns_records: u64,
    peak_flows: u64,
    rss_growth_kib: u64,
}

/// One pass: read + decode + flow table (+ DPI when configured).
fn run(path: &PathBuf, cfg: &MeterConfig) -> Run {
    // Warm the page cache so the first mode is not charged for disk reads.
    let _ = std::fs::read(path).map(|v| v.len());
    let rss0 = status_kib("VmRSS:");
    let t = Instant::now();
    let mut src = FileSource::open(path).unwrap();
    let mut meter = Meter::new(cfg);
    let mut sink = CountingSink::default();
    let mut rss_peak = rss0;
    loop {
        match src.poll(1024, &mut |p| meter.packet(p)).unwrap() {
            Poll::Eof => break,
            Poll::Packets(_) | Poll::Idle => {}
        }
        meter.drain(&mut sink).unwrap();
    }
    // Every flow of the capture is still active here (it lasts less than
    // the idle timeout): the table is at its largest.
    rss_peak = rss_peak.max(status_kib("VmRSS:"));
    let stats = meter.finish(&mut sink).unwrap();
    let secs = t.elapsed().as_secs_f64();
    Run {
        secs,
        packets: stats.packets,
        flows: sink.flows,
        dns_records: sink.dns_records,
        peak_flows: stats.peak_flows,
        rss_growth_kib: rss_peak.saturating_sub(rss0),
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
    let path = capture(packets);
    let with_dpi = MeterConfig::default();
    let no_dpi = MeterConfig {
        flow: FlowConfig {
            dpi: None,
            ..FlowConfig::default()
        },
        ..MeterConfig::default()
    };
    println!(
        "flowmeter throughput, {} packets of generated DNS traffic, no export",
        packets
    );
    println!(
        "flow table entry: {} bytes (+ hash-map slack, + DNS state when DNS)",
        FlowTable::entry_size()
    );
    for (name, cfg) in [
        ("decode + flows + DNS DPI", &with_dpi),
        ("decode + flows, no DPI", &no_dpi),
    ] {
        let mut times = Vec::new();
        let mut last = None;
        for _ in 0..3 {
            let r = run(&path, cfg);
            times.push(r.secs);
            last = Some(r);
        }
        let r = last.unwrap();
        let t = median(times);
        println!(
            "{name:26} median {:.3}s  {:>9.0} packets/s  {:>8.0} flows/s  ({} flows, peak {} active, {} DNS records)",
            t,
            r.packets as f64 / t,
            r.flows as f64 / t,
            r.flows,
            r.peak_flows,
            r.dns_records
        );
        println!(
            "{:26} RSS growth at peak {:.1} MiB = {:.0} bytes per active flow (incl. its DNS records)",
            "",
            r.rss_growth_kib as f64 / 1024.0,
            r.rss_growth_kib as f64 * 1024.0 / r.peak_flows.max(1) as f64
        );
        println!(
            "{:26} process peak so far (VmHWM) {:.1} MiB",
            "",
            status_kib("VmHWM:") as f64 / 1024.0
        );
    }
}
