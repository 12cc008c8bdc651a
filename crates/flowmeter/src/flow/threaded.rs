//! Export on a thread of its own: [`ThreadedSink`] hands ended flows, in
//! batches over a bounded channel, to a thread that owns the real sink.
//! Decoding a flow's DNS messages, encoding IPFIX and writing it then
//! overlap packet processing; on the 1M-packet bench capture that is about
//! half of the single-threaded run (see benches/throughput.rs, modes
//! "DPI + IPFIX file").
//!
//! Everything reaches the inner sink in the order it was given (flows,
//! statistics, flushes), so the output is byte for byte what the inner sink
//! would write on its own. A failure of the inner sink is returned by the
//! next call after it happened; `flush` waits for the thread and returns
//! its result, so the end of a run reports every error.
//! [`ThreadedSink::into_inner`] stops the thread and gives the sink back
//! (to close it, read its final counters). The `flowmeter` binary exports
//! this way:
//!
//! ```text
//! let mut sink = ThreadedSink::new(export::open(&cfg, &opts)?)?;
//! pipeline::run(&meter_cfg, sources, false, &mut sink, &stop)?;
//! let exporter = sink.into_inner()?;
//! ```

use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::sink::{ExportStats, FlowSink, MeterStats, PreEncoder, SinkError};
use super::{EndedFlow, FlowRecord};

/// Flows per batch: big enough that the channel costs nothing per flow,
/// small enough that the export thread starts early.
const BATCH: usize = 256;
/// Batches in flight; with the batch size this bounds the flows held
/// between the two threads (a few MB at most) and gives back-pressure when
/// the exporter is slower than capture.
const QUEUE: usize = 16;
/// A partial batch is handed over once its first flow has waited this long,
/// so a quiet period does not hold flows back (checked as flows arrive).
const MAX_WAIT: Duration = Duration::from_millis(200);

enum Msg {
    Flows(Vec<EndedFlow>),
    Stats(MeterStats),
    Flush(SyncSender<Result<(), SinkError>>),
}

/// A [`FlowSink`] that runs another sink on its own thread.
pub struct ThreadedSink<S: FlowSink + Send + 'static> {
    tx: Option<SyncSender<Msg>>,
    /// Emptied batch vectors coming back, so steady state allocates none.
    recycled: Receiver<Vec<EndedFlow>>,
    batch: Vec<EndedFlow>,
    /// When the first flow of `batch` arrived.
    since: Instant,
    stats: Arc<Mutex<Option<ExportStats>>>,
    worker: Option<JoinHandle<Result<S, SinkError>>>,
    /// The sink's own encoding, for this thread to share when the sink's falls behind.
    pre: Option<PreEncoder>,
}

impl<S: FlowSink + Send + 'static> std::fmt::Debug for ThreadedSink<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadedSink")
            .field("batched", &self.batch.len())
            .field("running", &self.tx.is_some())
            .finish()
    }
}

impl<S: FlowSink + Send + 'static> ThreadedSink<S> {
    /// Starts the export thread, which owns `sink` from now on.
    pub fn new(sink: S) -> Result<Self, SinkError> {
        let (tx, rx) = mpsc::sync_channel::<Msg>(QUEUE);
        let (back_tx, back_rx) = mpsc::channel();
        let stats = Arc::new(Mutex::new(sink.export_stats()));
        let pre = sink.pre_encoder();
        let shared = Arc::clone(&stats);
        let worker = std::thread::Builder::new()
            .name("flowmeter-export".into())
            .spawn(move || work(sink, rx, back_tx, &shared))
            .map_err(SinkError::new)?;
        Ok(ThreadedSink {
            tx: Some(tx),
            recycled: back_rx,
            batch: Vec::with_capacity(BATCH),
            since: Instant::now(),
            stats,
            worker: Some(worker),
            pre,
        })
    }

    /// Hands over what is batched, waits for the thread to write it all,
    /// and returns the sink (not flushed: call `flush` first for that).
    pub fn into_inner(mut self) -> Result<S, SinkError> {
        self.send_batch()?;
        self.tx = None;
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(SinkError::new("export thread panicked")),
            None => Err(SinkError::new("export thread has stopped")),
        }
    }

    /// The thread has stopped (its sink failed): its error, once.
    fn dead(&mut self) -> SinkError {
        self.tx = None;
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => e,
            Some(Err(_)) => SinkError::new("export thread panicked"),
            Some(Ok(Ok(_))) | None => SinkError::new("export thread has stopped"),
        }
    }

    fn send(&mut self, m: Msg) -> Result<(), SinkError> {
        let sent = match &self.tx {
            Some(tx) => tx.send(m).is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            Err(self.dead())
        }
    }

    fn send_batch(&mut self) -> Result<(), SinkError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let next = self
            .recycled
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BATCH));
        let full = std::mem::replace(&mut self.batch, next);
        let Some(tx) = &self.tx else {
            return Err(self.dead());
        };
        match tx.try_send(Msg::Flows(full)) {
            Ok(()) => Ok(()),
            // The export thread is behind (typically while every flow is
            // ended at end of input and the packet thread has nothing else
            // to do): encode this batch here before waiting, so the two
            // threads share the work. An IPFIX sink's own encoder makes the
            // final bytes (decoding DNS messages straight into them); other
            // sinks get the DNS records expanded.
            Err(TrySendError::Full(Msg::Flows(flows))) => {
                let done = match &mut self.pre {
                    Some(encode) => flows.into_iter().map(encode).collect(),
                    None => flows
                        .into_iter()
                        .map(|f| EndedFlow::from(f.into_record()))
                        .collect(),
                };
                self.send(Msg::Flows(done))
            }
            Err(TrySendError::Full(m)) => self.send(m),
            Err(TrySendError::Disconnected(_)) => Err(self.dead()),
        }
    }
}

fn publish<S: FlowSink>(shared: &Mutex<Option<ExportStats>>, sink: &S) {
    if let Ok(mut g) = shared.lock() {
        *g = sink.export_stats();
    }
}

fn work<S: FlowSink>(
    mut sink: S,
    rx: Receiver<Msg>,
    back: Sender<Vec<EndedFlow>>,
    shared: &Mutex<Option<ExportStats>>,
) -> Result<S, SinkError> {
    let _cpu = crate::procfs::ThreadCpuGuard("export");
    for m in rx {
        match m {
            Msg::Flows(mut flows) => {
                // Fetch the batch's DNS messages into the cache together
                // (see PendingDns::warm).
                std::hint::black_box(flows.iter().fold(0, |a, f| a ^ f.warm()));
                for f in flows.drain(..) {
                    sink.emit_ended(f)?;
                }
                // The producer may be gone already: the vector is dropped then.
                let _ = back.send(flows);
                publish(shared, &sink);
            }
            Msg::Stats(s) => sink.on_stats(&s)?,
            Msg::Flush(reply) => {
                let r = sink.flush();
                publish(shared, &sink);
                let failed = r.as_ref().err().map(ToString::to_string);
                let _ = reply.send(r);
                if let Some(e) = failed {
                    return Err(SinkError::new(e));
                }
            }
        }
    }
    Ok(sink)
}

impl<S: FlowSink + Send + 'static> FlowSink for ThreadedSink<S> {
    fn emit(&mut self, rec: FlowRecord) -> Result<(), SinkError> {
        self.emit_ended(EndedFlow::from(rec))
    }

    fn emit_ended(&mut self, f: EndedFlow) -> Result<(), SinkError> {
        if self.batch.is_empty() {
            self.since = Instant::now();
        }
        self.batch.push(f);
        // The clock is read at the 2nd, 4th, 8th flow, then every 16th.
        let n = self.batch.len();
        if n >= BATCH
            || ((n.is_power_of_two() || n.is_multiple_of(16)) && self.since.elapsed() >= MAX_WAIT)
        {
            self.send_batch()?;
        }
        Ok(())
    }

    /// Waits until the export thread has written everything given so far.
    fn flush(&mut self) -> Result<(), SinkError> {
        self.send_batch()?;
        let (reply_tx, reply_rx) = mpsc::sync_channel(1);
        self.send(Msg::Flush(reply_tx))?;
        match reply_rx.recv() {
            Ok(r) => r,
            Err(_) => Err(self.dead()),
        }
    }

    fn on_stats(&mut self, s: &MeterStats) -> Result<(), SinkError> {
        self.send_batch()?;
        self.send(Msg::Stats(*s))
    }

    /// As of the last batch the export thread finished.
    fn export_stats(&self) -> Option<ExportStats> {
        self.stats.lock().ok().and_then(|g| *g)
    }
}

impl<S: FlowSink + Send + 'static> Drop for ThreadedSink<S> {
    /// Lets the thread finish what it was given, then drops the inner sink
    /// there (as dropping the inner sink itself would). Flows still in the
    /// unsent batch are handed over first.
    fn drop(&mut self) {
        let _ = self.send_batch();
        self.tx = None;
        if let Some(h) = self.worker.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::flow::{end_reason, VecSink};
    use std::net::IpAddr;

    fn rec(i: u64) -> FlowRecord {
        FlowRecord {
            start_ns: i,
            end_ns: i,
            src: IpAddr::from([10, 0, 0, 1]),
            dst: IpAddr::from([10, 0, 0, 2]),
            sport: 1,
            dport: 53,
            proto: 17,
            vlan: 0,
            rev_vlan: 0,
            tos: 0,
            rev_tos: 0,
            octets: 1,
            rev_octets: 0,
            packets: 1,
            rev_packets: 0,
            attributes: 0,
            rev_attributes: 0,
            end_reason: end_reason::IDLE,
            app_label: 0,
            rev_delta_ns: 0,
            tcp: None,
            dns: Vec::new(),
        }
    }

    /// Records what reached it, in order, into a shared log.
    struct Logged(Arc<Mutex<Vec<String>>>, bool);

    impl FlowSink for Logged {
        fn emit(&mut self, r: FlowRecord) -> Result<(), SinkError> {
            if self.1 && r.start_ns == 700 {
                return Err(SinkError::new("disk full"));
            }
            self.0.lock().unwrap().push(format!("f{}", r.start_ns));
            Ok(())
        }
        fn flush(&mut self) -> Result<(), SinkError> {
            self.0.lock().unwrap().push("flush".into());
            Ok(())
        }
        fn on_stats(&mut self, s: &MeterStats) -> Result<(), SinkError> {
            self.0.lock().unwrap().push(format!("s{}", s.packets));
            Ok(())
        }
        fn export_stats(&self) -> Option<ExportStats> {
            Some(ExportStats {
                messages_sent: self.0.lock().unwrap().len() as u64,
                ..ExportStats::default()
            })
        }
    }

    #[test]
    fn order_of_flows_stats_and_flushes_is_kept() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut t = ThreadedSink::new(Logged(Arc::clone(&log), false)).unwrap();
        let mut want = Vec::new();
        for i in 0..1000 {
            t.emit(rec(i)).unwrap();
            want.push(format!("f{i}"));
            if i == 300 {
                t.on_stats(&MeterStats {
                    packets: 9,
                    ..MeterStats::default()
                })
                .unwrap();
                want.push("s9".into());
            }
        }
        t.flush().unwrap();
        want.push("flush".into());
        assert_eq!(*log.lock().unwrap(), want);
        // Published after the flush: every entry, the flush included.
        assert_eq!(t.export_stats().unwrap().messages_sent, want.len() as u64);
        t.emit(rec(5000)).unwrap();
        drop(t);
        // Dropping hands over the unsent batch.
        assert_eq!(log.lock().unwrap().last().unwrap(), "f5000");
    }

    #[test]
    fn a_failing_sink_is_reported_and_stops_the_thread() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut t = ThreadedSink::new(Logged(Arc::clone(&log), true)).unwrap();
        let mut err = None;
        for i in 0..100_000 {
            if let Err(e) = t.emit(rec(i)) {
                err = Some(e);
                break;
            }
        }
        let err = err.or_else(|| t.flush().err()).unwrap();
        assert!(err.to_string().contains("disk full"), "{err}");
        assert!(t.flush().is_err());
        assert_eq!(log.lock().unwrap().len(), 700);
    }

    #[test]
    fn a_slow_trickle_of_flows_is_not_held_back() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut t = ThreadedSink::new(Logged(Arc::clone(&log), false)).unwrap();
        t.emit(rec(1)).unwrap();
        std::thread::sleep(MAX_WAIT + Duration::from_millis(50));
        t.emit(rec(2)).unwrap();
        // Handed over without a flush: the export thread gets to it.
        let t0 = Instant::now();
        while log.lock().unwrap().len() < 2 && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(*log.lock().unwrap(), ["f1", "f2"]);
    }

    /// Takes its time, so the queue fills and the producer expands batches.
    struct Slow(VecSink);

    impl FlowSink for Slow {
        fn emit(&mut self, r: FlowRecord) -> Result<(), SinkError> {
            if self.0.records.len().is_multiple_of(256) {
                std::thread::sleep(Duration::from_millis(20));
            }
            self.0.emit(r)
        }
        fn flush(&mut self) -> Result<(), SinkError> {
            self.0.flush()
        }
    }

    #[test]
    fn dns_records_arrive_whichever_thread_expands_them() {
        use crate::dpi::{DnsFlowState, DnsStats, DpiConfig};
        // A query for "x." (type AAAA), id = the flow number.
        let query = |id: u16| {
            let mut q = id.to_be_bytes().to_vec();
            q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'x', 0, 0, 28, 0, 1]);
            q
        };
        let mut t = ThreadedSink::new(Slow(VecSink::default())).unwrap();
        let (cfg, mut st) = (DpiConfig::default(), DnsStats::default());
        let decoding = std::sync::Arc::new(crate::dpi::Decoding::new(&cfg));
        let n = 30 * BATCH as u16;
        for i in 0..n {
            let mut dns = DnsFlowState::default();
            dns.on_udp(&cfg, false, &query(i), &mut st);
            t.emit_ended(EndedFlow::new(
                rec(u64::from(i)),
                dns.into_pending(&decoding),
            ))
            .unwrap();
        }
        t.flush().unwrap();
        let v = t.into_inner().unwrap().0;
        assert_eq!(v.records.len(), usize::from(n));
        for (i, r) in v.records.iter().enumerate() {
            assert_eq!(r.start_ns, i as u64);
            assert_eq!(r.dns.len(), 1);
            assert_eq!(
                (r.dns[0].head.id, r.dns[0].qname.as_str()),
                (i as u16, "x.")
            );
            assert_eq!(r.app_label, 53);
        }
        assert_eq!(decoding.stats().records, u64::from(n));
    }

    /// An IPFIX file exporter that takes its time, so the queue fills and the producer
    /// encodes batches with the exporter's own encoder; counts the flows that came so.
    struct SlowExporter(crate::export::Exporter, usize, usize);

    impl FlowSink for SlowExporter {
        fn emit(&mut self, r: FlowRecord) -> Result<(), SinkError> {
            self.0.emit(r)
        }
        fn emit_ended(&mut self, f: EndedFlow) -> Result<(), SinkError> {
            self.1 += 1;
            self.2 += usize::from(f.is_pre_encoded());
            if self.1.is_multiple_of(256) {
                std::thread::sleep(Duration::from_millis(20));
            }
            self.0.emit_ended(f)
        }
        fn flush(&mut self) -> Result<(), SinkError> {
            self.0.flush()
        }
        fn pre_encoder(&self) -> Option<PreEncoder> {
            self.0.pre_encoder()
        }
    }

    /// The file's bytes with every message's export time zeroed (it is the wall clock).
    fn without_export_times(mut b: Vec<u8>) -> Vec<u8> {
        let mut at = 0;
        while let Some(len) = b.get(at + 2..at + 4) {
            let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
            b[at + 4..at + 8].fill(0);
            assert!(len >= 16, "message length {len} at {at}");
            at += len;
        }
        assert_eq!(at, b.len());
        b
    }

    #[test]
    fn pre_encoded_flows_are_written_byte_for_byte_as_the_exporter_would() {
        use crate::dpi::{DnsFlowState, DnsStats, DpiConfig};
        // A query and its answer (one AAAA record), id = the flow number.
        let query = |id: u16| {
            let mut q = id.to_be_bytes().to_vec();
            q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'x', 0, 0, 28, 0, 1]);
            q
        };
        let answer = |id: u16| {
            let mut a = id.to_be_bytes().to_vec();
            a.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 1, b'x', 0, 0, 28, 0, 1]);
            a.extend_from_slice(&[0xc0, 12, 0, 28, 0, 1, 0, 0, 1, 44, 0, 16]);
            a.extend_from_slice(&[0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
            a
        };
        let cfg = DpiConfig::default();
        let flows = |decoding: &Arc<crate::dpi::Decoding>| -> Vec<EndedFlow> {
            let mut st = DnsStats::default();
            (0..20 * BATCH as u16)
                .map(|i| {
                    let mut dns = DnsFlowState::default();
                    dns.on_udp(&cfg, false, &query(i), &mut st);
                    dns.on_udp(&cfg, true, &answer(i), &mut st);
                    EndedFlow::new(rec(u64::from(i)), dns.into_pending(decoding))
                })
                .collect()
        };
        let dir = tempfile::tempdir().unwrap();
        let export = |name: &str| {
            let ecfg = crate::config::ExportConfig {
                stats_interval_s: 0,
                ..crate::config::ExportConfig::file(dir.path().join(name).to_string_lossy())
            };
            // No tombstone: it carries the wall-clock second the file closed.
            let opts = crate::export::SinkOptions {
                tombstone: false,
                ..crate::export::SinkOptions::default()
            };
            crate::export::open(&ecfg, &opts).unwrap()
        };

        let decoding = Arc::new(crate::dpi::Decoding::new(&cfg));
        let mut direct = export("direct.yaf");
        for f in flows(&decoding) {
            direct.emit_ended(f).unwrap();
        }
        direct.flush().unwrap();
        drop(direct);

        let decoding = Arc::new(crate::dpi::Decoding::new(&cfg));
        let mut t = ThreadedSink::new(SlowExporter(export("threaded.yaf"), 0, 0)).unwrap();
        for f in flows(&decoding) {
            t.emit_ended(f).unwrap();
        }
        t.flush().unwrap();
        let slow = t.into_inner().unwrap();
        assert_eq!(slow.1, 20 * BATCH);
        assert!(slow.2 > 0, "no batch was encoded by the producer");
        assert!(slow.2 < slow.1, "every batch was encoded by the producer");
        drop(slow);

        let read = |name: &str| without_export_times(std::fs::read(dir.path().join(name)).unwrap());
        let (a, b) = (read("direct.yaf"), read("threaded.yaf"));
        assert!(a.len() > 20 * BATCH * 40, "{} bytes", a.len());
        let first = a.iter().zip(&b).position(|(x, y)| x != y);
        assert!(
            a == b,
            "the threaded file differs from the direct one: {} against {} bytes, first at {first:?}",
            a.len(),
            b.len()
        );
    }

    #[test]
    fn into_inner_returns_the_sink_with_everything_written() {
        let mut t = ThreadedSink::new(VecSink::default()).unwrap();
        for i in 0..300 {
            t.emit(rec(i)).unwrap();
        }
        let v = t.into_inner().unwrap();
        assert_eq!(v.records.len(), 300);
        assert_eq!(v.records[299].start_ns, 299);
    }

    #[test]
    fn the_exporters_can_run_on_the_export_thread() {
        fn send<T: Send>() {}
        send::<crate::export::Exporter>();
        send::<Box<dyn FlowSink + Send>>();
    }
}
