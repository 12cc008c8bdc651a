//! Decoding speed on the largest YAF file of the corpus (nsd-live: an authoritative server's
//! 60 s, ~21k DNS messages): MB/s, top-level records/s and DNS resource records/s. The goal
//! is that decoding never bottlenecks the mediator: >= 1M DNS RR/s on one core.
//! Skips (prints why) when the corpus is not beside the checkout.

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ipfix_model::{complete_frame_len, ie::ElementId, Session};

const FILE: &str = "../../../shared/corpus/yaf/dns-stats+compactor/test-scripts/nsd-live.raw.yaf";
const DNS_QNAME: ElementId = ElementId::cert(179);

/// Decodes every message; returns (top-level records, DNS RRs) so the work cannot be elided.
fn decode_all(bytes: &[u8], count_rrs: bool) -> (usize, usize) {
    let mut session = Session::new();
    let mut off = 0;
    let (mut recs, mut rrs) = (0, 0);
    while let Ok(Some(len)) = complete_frame_len(&bytes[off..], 65535, off as u64) {
        let msg = session
            .decode(&bytes[off..], off as u64)
            .expect("corpus file decodes");
        recs += msg.data_record_count();
        if count_rrs {
            for r in msg.data_records() {
                r.walk(&mut |sub, _| {
                    if sub.field(DNS_QNAME).is_some() {
                        rrs += 1;
                    }
                });
            }
        }
        off += len;
        if off >= bytes.len() {
            break;
        }
    }
    (recs, rrs)
}

/// CPU time this thread has used (user + system), from /proc (Linux; `None` elsewhere).
/// Criterion measures wall time, which on a shared machine counts other people's builds too.
fn thread_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

/// Throughput per second of CPU time, over at least 5 s of it.
fn cpu_time_figures(bytes: &[u8], recs: usize, rrs: usize) {
    let Some(start) = thread_cpu_secs() else {
        return;
    };
    let wall = std::time::Instant::now();
    let mut iters = 0u32;
    let mut used = 0.0;
    while used < 5.0 {
        black_box(decode_all(black_box(bytes), true));
        iters += 1;
        used = thread_cpu_secs().unwrap_or(start + 5.0) - start;
    }
    let per = used / f64::from(iters);
    eprintln!(
        "CPU time per pass {:.1} ms (wall {:.1} ms), decode + find RRs: {:.1} MB/s, {:.0} records/s, {:.0} DNS RR/s",
        per * 1e3,
        wall.elapsed().as_secs_f64() * 1e3 / f64::from(iters),
        bytes.len() as f64 / per / 1e6,
        recs as f64 / per,
        rrs as f64 / per
    );
}

fn bench(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(FILE);
    let Ok(bytes) = std::fs::read(&path) else {
        eprintln!("corpus not found ({}), benchmark skipped", path.display());
        return;
    };
    let (recs, rrs) = decode_all(&bytes, true);
    eprintln!(
        "{}: {} bytes, {recs} top-level records, {rrs} DNS RRs",
        path.display(),
        bytes.len()
    );
    cpu_time_figures(&bytes, recs, rrs);
    let mut g = c.benchmark_group("nsd-live");
    g.sample_size(20);
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("decode (bytes)", |b| {
        b.iter(|| black_box(decode_all(black_box(&bytes), false)))
    });
    g.throughput(Throughput::Elements(recs as u64));
    g.bench_function("decode (top-level records)", |b| {
        b.iter(|| black_box(decode_all(black_box(&bytes), false)))
    });
    g.throughput(Throughput::Elements(rrs as u64));
    g.bench_function("decode + find every DNS RR (RRs)", |b| {
        b.iter(|| black_box(decode_all(black_box(&bytes), true)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
