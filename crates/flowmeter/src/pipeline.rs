//! Drives sources -> decoder -> flow table -> sink.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::capture::{CaptureError, CaptureStats, Packet, PacketSource, Poll};
use crate::config::MeterConfig;
use crate::decode::{Decoded, Decoder};
use crate::dpi::DnsStats;
use crate::flow::sink::ExportStats;
use crate::flow::{end_reason, EndedFlow, FlowSink, FlowTable, MeterStats, SinkError};

/// Packets handed over per poll; between polls the pipeline drains finished
/// flows into the sink and checks for shutdown.
const BATCH: usize = 1024;

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// Decoder + flow table + counters: everything between a packet and a
/// finished flow. Usable without [`run`] (benchmarks, embedding).
#[derive(Debug)]
pub struct Meter {
    decoder: Decoder,
    table: FlowTable,
    out: Vec<EndedFlow>,
    packets: u64,
    /// Captured bytes (what the source delivered, link layer included).
    bytes: u64,
    exported: u64,
    /// Exported flows by flowEndReason (index = reason without the continuation flag).
    by_reason: [u64; 8],
    first_ts_ns: Option<u64>,
    last_ts_ns: u64,
    start_time_ms: u64,
    stats_interval_ns: u64,
    next_stats_ns: Option<u64>,
    capture: CaptureStats,
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Meter {
    pub fn new(cfg: &MeterConfig) -> Self {
        Meter {
            decoder: Decoder::new(cfg.defrag),
            table: FlowTable::new(cfg.flow.clone()),
            out: Vec::with_capacity(BATCH),
            packets: 0,
            bytes: 0,
            exported: 0,
            by_reason: [0; 8],
            first_ts_ns: None,
            last_ts_ns: 0,
            start_time_ms: wall_ms(),
            stats_interval_ns: cfg.stats_interval_s.saturating_mul(1_000_000_000),
            next_stats_ns: None,
            capture: CaptureStats::default(),
        }
    }

    /// Feed one captured frame.
    pub fn packet(&mut self, p: &Packet<'_>) {
        self.packets += 1;
        self.bytes += p.data.len() as u64;
        if self.first_ts_ns.is_none() {
            self.first_ts_ns = Some(p.ts_ns);
            self.next_stats_ns = Some(p.ts_ns.saturating_add(self.stats_interval_ns));
        }
        self.last_ts_ns = self.last_ts_ns.max(p.ts_ns);
        match self.decoder.decode(p.ts_ns, p.linktype, p.data) {
            Decoded::Packet(meta) => self.table.observe(p.ts_ns, &meta, &mut self.out),
            Decoded::Held | Decoded::Ignored(_) => {}
        }
    }

    /// Advance packet time without a packet (live capture gone quiet).
    pub fn advance(&mut self, now_ns: u64) {
        self.last_ts_ns = self.last_ts_ns.max(now_ns);
        self.decoder.sweep(now_ns);
        self.table.expire(now_ns, &mut self.out);
    }

    /// Flows in the table now.
    pub fn active_flows(&self) -> usize {
        self.table.len()
    }

    /// Finished flows waiting to be drained.
    pub fn pending(&self) -> &[EndedFlow] {
        &self.out
    }

    /// Hand finished flows to the sink, and a statistics record when due.
    pub fn drain(&mut self, sink: &mut dyn FlowSink) -> Result<(), SinkError> {
        for rec in self.out.drain(..) {
            self.exported += 1;
            self.by_reason[usize::from(rec.rec.end_reason & 0x07)] += 1;
            sink.emit_ended(rec)?;
        }
        if self.stats_interval_ns > 0 {
            if let Some(due) = self.next_stats_ns {
                if self.last_ts_ns >= due {
                    self.next_stats_ns =
                        Some(self.last_ts_ns.saturating_add(self.stats_interval_ns));
                    let s = self.stats();
                    sink.on_stats(&s)?;
                }
            }
        }
        Ok(())
    }

    /// Record the capture layer's counters (summed over sources by the caller).
    pub fn set_capture_stats(&mut self, s: CaptureStats) {
        self.capture = s;
    }

    /// End every flow (reason: end of input / shutdown), drain, final stats, flush.
    pub fn finish(&mut self, sink: &mut dyn FlowSink) -> Result<MeterStats, SinkError> {
        self.decoder.flush();
        // In batches, so the records of a full table never exist all at once.
        loop {
            let more = self
                .table
                .flush_some(end_reason::FORCED, BATCH, &mut self.out);
            for rec in self.out.drain(..) {
                self.exported += 1;
                self.by_reason[usize::from(rec.rec.end_reason & 0x07)] += 1;
                sink.emit_ended(rec)?;
            }
            if !more {
                break;
            }
        }
        let s = self.stats();
        sink.on_stats(&s)?;
        sink.flush()?;
        // The DNS counters of the last flows are complete only once the
        // sink has decoded them (on the export thread, before its flush
        // returned); nothing else has changed since the record above.
        let dns = self.table.dns_stats();
        Ok(MeterStats {
            dns_messages: dns.messages,
            dns_records: dns.records,
            dns_parse_errors: dns.parse_errors,
            ..s
        })
    }

    /// Current counters.
    pub fn stats(&self) -> MeterStats {
        let t = self.table.stats();
        let d = self.decoder.stats();
        let f = self.decoder.defrag_stats();
        let dns = self.table.dns_stats();
        // YAF's mean rates are per second of running time (wall clock).
        let secs = (wall_ms().saturating_sub(self.start_time_ms) / 1000).max(1);
        MeterStats {
            start_time_ms: self.start_time_ms,
            last_packet_ns: self.last_ts_ns,
            packets: self.packets,
            dropped: self.capture.dropped + self.capture.if_dropped,
            ignored: d.ignored(),
            flows_exported: self.exported,
            expired_fragments: f.expired + f.evicted,
            assembled_fragments: f.assembled,
            flush_events: t.flush_events,
            peak_flows: t.peak,
            active_flows: self.table.len() as u64,
            mean_flow_rate: u32::try_from(t.flows_ended / secs).unwrap_or(u32::MAX),
            mean_packet_rate: u32::try_from(self.packets / secs).unwrap_or(u32::MAX),
            resource_evictions: t.resource_evictions,
            dns_messages: dns.messages,
            dns_records: dns.records,
            dns_parse_errors: dns.parse_errors,
        }
    }

    /// Everything the metrics endpoint and the progress line show.
    pub fn snapshot(&self, export: Option<ExportStats>) -> Snapshot {
        Snapshot {
            meter: self.stats(),
            bytes: self.bytes,
            flows_created: self.table.stats().flows_created,
            by_reason: self.by_reason,
            dns: self.table.dns_stats(),
            capture: self.capture,
            export,
        }
    }

    /// The counters a scrape must see even while the source blocks mid-batch (a pipe that
    /// stays open): plain relaxed stores, so the packet path pays a few nanoseconds.
    /// DNS records are not among them: they are counted when flows end (on the export
    /// thread), so the per-batch snapshot carries them.
    fn publish_hot(&self, hot: &HotCounters) {
        hot.packets.store(self.packets, Ordering::Relaxed);
        hot.bytes.store(self.bytes, Ordering::Relaxed);
        hot.dns_messages
            .store(self.table.dns_messages(), Ordering::Relaxed);
        hot.ignored
            .store(self.decoder.stats().ignored(), Ordering::Relaxed);
        hot.flows_created
            .store(self.table.stats().flows_created, Ordering::Relaxed);
        hot.active_flows
            .store(self.table.len() as u64, Ordering::Relaxed);
    }
}

/// A copy of the meter's counters at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub meter: MeterStats,
    pub bytes: u64,
    pub flows_created: u64,
    /// Exported flows by flowEndReason (1 idle, 2 active, 3 end, 4 forced, 5 resource).
    pub by_reason: [u64; 8],
    pub dns: DnsStats,
    pub capture: CaptureStats,
    pub export: Option<ExportStats>,
}

/// Counters updated after every packet (single writer: the pipeline thread).
#[derive(Debug, Default)]
pub struct HotCounters {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    pub dns_messages: AtomicU64,
    pub ignored: AtomicU64,
    pub flows_created: AtomicU64,
    pub active_flows: AtomicU64,
}

/// Where the pipeline publishes its counters for other threads (metrics endpoint, progress
/// line). The full snapshot is replaced after every poll (at most [`BATCH`] packets); the
/// hot counters after every packet.
#[derive(Debug, Default)]
pub struct Published {
    pub hot: HotCounters,
    pub full: Mutex<Snapshot>,
    /// Set when the pipeline has finished (final counters published).
    pub done: AtomicBool,
}

impl Published {
    /// The latest snapshot, with the hot counters (newer) folded in.
    pub fn read(&self) -> Snapshot {
        let mut s = self.full.lock().map(|s| s.clone()).unwrap_or_default();
        let h = &self.hot;
        s.meter.packets = s.meter.packets.max(h.packets.load(Ordering::Relaxed));
        s.bytes = s.bytes.max(h.bytes.load(Ordering::Relaxed));
        s.dns.messages = s.dns.messages.max(h.dns_messages.load(Ordering::Relaxed));
        s.meter.ignored = s.meter.ignored.max(h.ignored.load(Ordering::Relaxed));
        s.flows_created = s.flows_created.max(h.flows_created.load(Ordering::Relaxed));
        // A gauge: the hot value is the newer one once the first packet is in.
        if h.packets.load(Ordering::Relaxed) >= s.meter.packets {
            s.meter.active_flows = h.active_flows.load(Ordering::Relaxed);
        }
        s.meter.dns_messages = s.dns.messages;
        s.meter.dns_records = s.dns.records;
        s
    }

    fn publish(&self, meter: &Meter, sink: &dyn FlowSink) {
        // Hot first: a reader between the two stores then sees hot counters at least as new
        // as the snapshot, which `read` relies on for the active-flows gauge.
        meter.publish_hot(&self.hot);
        let snap = meter.snapshot(sink.export_stats());
        if let Ok(mut g) = self.full.lock() {
            *g = snap;
        }
    }
}

/// How often a quiet live capture flushes the sink, so a partly filled IPFIX message does
/// not hold the last flows of a burst until the next one.
const IDLE_FLUSH: Duration = Duration::from_secs(1);

fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Run `sources` in order through one meter into `sink` until they are
/// exhausted or `stop` is set (SIGINT/SIGTERM); then every flow is ended
/// with flowEndReason 4 and the sink flushed. `live` makes quiet periods
/// advance time by the wall clock so idle flows still expire.
pub fn run(
    cfg: &MeterConfig,
    sources: Vec<Box<dyn PacketSource>>,
    live: bool,
    sink: &mut dyn FlowSink,
    stop: &AtomicBool,
) -> Result<MeterStats, PipelineError> {
    run_published(cfg, sources, live, sink, stop, None)
}

/// [`run`], publishing counters to `publish` as it goes.
pub fn run_published(
    cfg: &MeterConfig,
    sources: Vec<Box<dyn PacketSource>>,
    live: bool,
    sink: &mut dyn FlowSink,
    stop: &AtomicBool,
    publish: Option<&Published>,
) -> Result<MeterStats, PipelineError> {
    let r = run_inner(cfg, sources, live, sink, stop, publish);
    if let Some(p) = publish {
        p.done.store(true, Ordering::Release);
    }
    r
}

fn run_inner(
    cfg: &MeterConfig,
    sources: Vec<Box<dyn PacketSource>>,
    live: bool,
    sink: &mut dyn FlowSink,
    stop: &AtomicBool,
    publish: Option<&Published>,
) -> Result<MeterStats, PipelineError> {
    let mut meter = Meter::new(cfg);
    let mut last_flush = Instant::now();
    // Scrapes before the first batch completes see every metric (the exporter's included).
    if let Some(p) = publish {
        p.publish(&meter, sink);
    }
    let mut done_stats = CaptureStats::default();
    'sources: for mut src in sources {
        loop {
            if stop.load(Ordering::Relaxed) {
                tracing::info!("shutdown requested: flushing flows");
                add_stats(&mut done_stats, src.stats());
                break 'sources;
            }
            let r = match publish {
                Some(p) => src.poll(BATCH, &mut |pkt| {
                    meter.packet(pkt);
                    meter.publish_hot(&p.hot);
                }),
                None => src.poll(BATCH, &mut |pkt| meter.packet(pkt)),
            };
            let mut idle = false;
            match r {
                Ok(Poll::Packets(_)) => {}
                Ok(Poll::Idle) => {
                    if live {
                        meter.advance(wall_ns());
                    }
                    idle = true;
                }
                Ok(Poll::Eof) => {
                    add_stats(&mut done_stats, src.stats());
                    break;
                }
                Err(e) => {
                    // Flows seen so far are still exported before failing.
                    add_stats(&mut done_stats, src.stats());
                    meter.set_capture_stats(done_stats);
                    meter.finish(sink)?;
                    if let Some(p) = publish {
                        p.publish(&meter, sink);
                    }
                    return Err(e.into());
                }
            }
            let mut cur = done_stats;
            add_stats(&mut cur, src.stats());
            meter.set_capture_stats(cur);
            meter.drain(sink)?;
            if idle && live && last_flush.elapsed() >= IDLE_FLUSH {
                sink.flush()?;
                last_flush = Instant::now();
            }
            if let Some(p) = publish {
                p.publish(&meter, sink);
            }
        }
        tracing::debug!(source = src.name(), "input finished");
    }
    meter.set_capture_stats(done_stats);
    let s = meter.finish(sink)?;
    if let Some(p) = publish {
        p.publish(&meter, sink);
    }
    Ok(s)
}

fn add_stats(acc: &mut CaptureStats, s: CaptureStats) {
    acc.received += s.received;
    acc.dropped += s.dropped;
    acc.if_dropped += s.if_dropped;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::capture::file::FileSource;
    use crate::capture::generator::{write_pcap, GenConfig};
    use crate::flow::VecSink;

    fn generated(packets: usize) -> Box<dyn PacketSource> {
        let cfg = GenConfig {
            packets,
            clients: 50,
            ..GenConfig::default()
        };
        let mut bytes = Vec::new();
        write_pcap(&cfg, &mut bytes).unwrap();
        Box::new(
            FileSource::from_reader("gen".into(), Box::new(std::io::Cursor::new(bytes))).unwrap(),
        )
    }

    #[test]
    fn published_counters_match_the_final_stats() {
        let p = Published::default();
        let mut sink = VecSink::default();
        let stop = AtomicBool::new(false);
        let cfg = MeterConfig::default();
        let s = run_published(
            &cfg,
            vec![generated(3000)],
            false,
            &mut sink,
            &stop,
            Some(&p),
        )
        .unwrap();
        assert!(p.done.load(Ordering::Acquire));
        let snap = p.read();
        assert_eq!(snap.meter.packets, 3000);
        assert_eq!(snap.meter.packets, s.packets);
        assert_eq!(snap.meter.flows_exported, sink.records.len() as u64);
        assert_eq!(snap.meter.dns_records, s.dns_records);
        assert!(snap.dns.messages > 0);
        assert_eq!(
            snap.meter.active_flows, 0,
            "all flows ended at end of input"
        );
        assert_eq!(snap.capture.received, 3000);
        // Every exported flow is counted under its end reason.
        assert_eq!(
            snap.by_reason.iter().sum::<u64>(),
            snap.meter.flows_exported
        );
        let forced = sink
            .records
            .iter()
            .filter(|r| r.end_reason & 0x7f == end_reason::FORCED)
            .count() as u64;
        assert_eq!(snap.by_reason[usize::from(end_reason::FORCED)], forced);
        assert!(snap.flows_created >= snap.meter.flows_exported);
    }

    #[test]
    fn threaded_export_gives_the_sink_the_same_records_in_the_same_order() {
        let cfg = MeterConfig {
            // Statistics records every second of packet time, in between flows.
            stats_interval_s: 1,
            flow: crate::flow::FlowConfig {
                idle_timeout_ns: 2_000_000_000,
                ..crate::flow::FlowConfig::default()
            },
            ..MeterConfig::default()
        };
        // About 10 s of packet time, so flows end all along.
        let source = || -> Box<dyn PacketSource> {
            let g = GenConfig {
                packets: 60_000,
                clients: 500,
                rate: 2_000,
                ..GenConfig::default()
            };
            let mut bytes = Vec::new();
            write_pcap(&g, &mut bytes).unwrap();
            Box::new(
                FileSource::from_reader("gen".into(), Box::new(std::io::Cursor::new(bytes)))
                    .unwrap(),
            )
        };
        let stop = AtomicBool::new(false);
        let mut direct = VecSink::default();
        run(&cfg, vec![source()], false, &mut direct, &stop).unwrap();
        let mut threaded = crate::flow::ThreadedSink::new(VecSink::default()).unwrap();
        run(&cfg, vec![source()], false, &mut threaded, &stop).unwrap();
        let threaded = threaded.into_inner().unwrap();
        assert!(direct.records.iter().any(|r| r.dns.len() > 1));
        assert!(direct.stats.len() > 1);
        assert_eq!(threaded.records, direct.records);
        assert_eq!(threaded.flushes, direct.flushes);
        // Statistics carry wall-clock rates: compare what does not.
        let packets = |v: &VecSink| v.stats.iter().map(|s| s.packets).collect::<Vec<_>>();
        assert_eq!(packets(&threaded), packets(&direct));
    }

    /// A live source that stays quiet for `polls` polls of 100 ms, then ends.
    struct Quiet {
        polls: u32,
    }

    impl PacketSource for Quiet {
        fn poll(
            &mut self,
            _max: usize,
            _f: &mut dyn FnMut(&Packet<'_>),
        ) -> Result<Poll, CaptureError> {
            if self.polls == 0 {
                return Ok(Poll::Eof);
            }
            self.polls -= 1;
            std::thread::sleep(Duration::from_millis(100));
            Ok(Poll::Idle)
        }
        fn stats(&self) -> CaptureStats {
            CaptureStats::default()
        }
        fn name(&self) -> &str {
            "quiet"
        }
    }

    #[test]
    fn quiet_live_capture_flushes_the_sink_about_every_second() {
        let cfg = MeterConfig::default();
        let stop = AtomicBool::new(false);
        let mut sink = VecSink::default();
        // 2.5 s of silence (more on a loaded machine): a flush per second, then the one at
        // end of input.
        let t0 = Instant::now();
        run(
            &cfg,
            vec![Box::new(Quiet { polls: 25 })],
            true,
            &mut sink,
            &stop,
        )
        .unwrap();
        let secs = t0.elapsed().as_secs() as usize;
        assert!(
            sink.flushes >= 3 && sink.flushes <= secs + 1,
            "{} flushes in {secs} s",
            sink.flushes
        );
        // Files never flush on idle.
        let mut sink = VecSink::default();
        run(
            &cfg,
            vec![Box::new(Quiet { polls: 12 })],
            false,
            &mut sink,
            &stop,
        )
        .unwrap();
        assert_eq!(sink.flushes, 1);
    }
}
