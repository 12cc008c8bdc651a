//! IPFIX over TCP (RFC 7011 §10.4) to one collector, losing nothing while it is away.
//!
//! The pipeline thread encodes messages and hands them to a writer thread over a bounded
//! channel (a full channel blocks the pipeline: backpressure, never loss). The writer thread:
//! - connects, and on failure retries with exponential backoff (`tcp_backoff_initial` doubling
//!   to `tcp_backoff_max`), so a dead collector never stalls packet processing;
//! - on every new connection sends all templates first (a collector keeps no templates across
//!   connections), then replays the spool in order, then new messages;
//! - while disconnected, or while older messages are still spooled, appends messages to the
//!   [`Spool`] (disk under `--spool-dir`, else memory), bounded by `--spool-max-bytes`;
//! - before each write checks whether the collector has closed the connection (a collector
//!   never sends, so a readable socket means EOF or reset): data written after a close would be
//!   silently lost in the dead socket's buffer;
//! - at shutdown keeps trying for `tcp_shutdown_timeout`; what is still undelivered stays in a
//!   disk spool for the next run (a memory spool logs it as lost).
//!
//! TCP and IPFIX have no application acknowledgement: messages the kernel accepted just before
//! a collector *crashed* (unread data in its socket) cannot be known to be lost. By default
//! (exactly once) a clean collector shutdown or restart loses nothing, a crash loses what was
//! in flight; with `SinkOptions::tcp_replay_window` the last messages are sent again on the
//! new connection (at least once: no loss on a crash, possible duplicates).

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::ExportConfig;
use crate::flow::sink::ExportStats;
use crate::flow::{FlowRecord, FlowSink, MeterStats, SinkError};

use super::message::Finished;
use super::spool::{Spool, SpoolDrops};
use super::{Encoder, ExportError, SinkOptions};

/// Cap of the in-memory spool (no `--spool-dir`), whatever `--spool-max-bytes` says.
pub const MEMORY_SPOOL_MAX: u64 = 256 << 20;

/// What the writer thread has done; shared for logging, metrics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpStats {
    /// Successful connections.
    pub connects: u64,
    pub connect_failures: u64,
    /// Connections lost (peer closed, reset, write error).
    pub disconnects: u64,
    /// Messages written to a socket (templates included).
    pub messages_sent: u64,
    /// Octets of those messages (what the collector can read, replays included).
    pub bytes_sent: u64,
    /// Data messages sent again on a new connection from the replay window.
    pub messages_replayed: u64,
    pub drops: SpoolDrops,
    /// Bytes in the spool now.
    pub spooled_bytes: u64,
}

enum Cmd {
    Msg(Finished),
    /// Current template messages for a new connection.
    Templates(Vec<Vec<u8>>),
    /// Try to deliver, then answer.
    Flush(SyncSender<()>),
}

/// The TCP exporter (a [`FlowSink`]).
pub struct TcpSink {
    pub(super) enc: Encoder,
    tx: Option<SyncSender<Cmd>>,
    worker: Option<JoinHandle<()>>,
    stats: Arc<Mutex<TcpStats>>,
    stats_enabled: bool,
    templates_sent: usize,
    tombstone: bool,
    max_delay: std::time::Duration,
    closed: bool,
}

impl std::fmt::Debug for TcpSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpSink")
            .field("stats", &self.stats())
            .finish()
    }
}

impl TcpSink {
    pub fn open(cfg: &ExportConfig, opts: &SinkOptions) -> Result<Self, ExportError> {
        if cfg.out.is_empty() {
            return Err(ExportError::Config(
                "--out must name the collector host".into(),
            ));
        }
        let peer = if cfg.out.contains(':')
            && !cfg.out.starts_with('[')
            && cfg.out.parse::<std::net::Ipv6Addr>().is_ok()
        {
            format!("[{}]:{}", cfg.out, cfg.port)
        } else {
            format!("{}:{}", cfg.out, cfg.port)
        };
        // Without --spool-dir the spool is memory: keep it to a size a sensor can afford.
        let max = match cfg.spool_dir {
            Some(_) => cfg.spool_max_bytes,
            None => cfg.spool_max_bytes.min(MEMORY_SPOOL_MAX),
        };
        let spool = Spool::open(cfg.spool_dir.as_deref(), max.max(64 * 1024))?;
        let enc = Encoder::new(cfg, opts, super::LIBFIXBUF_MAX_MESSAGE, false)?;
        let stats = Arc::new(Mutex::new(TcpStats::default()));
        let (tx, rx) = mpsc::sync_channel(256);
        let worker = Worker {
            peer,
            rx,
            conn: None,
            spool,
            templates: Vec::new(),
            backoff: opts.tcp_backoff_initial,
            backoff_initial: opts.tcp_backoff_initial,
            backoff_max: opts.tcp_backoff_max.max(opts.tcp_backoff_initial),
            next_attempt: Instant::now(),
            shutdown_timeout: opts.tcp_shutdown_timeout,
            stats: Arc::clone(&stats),
            next_seq: None,
            replay_window: opts.tcp_replay_window,
            recent: VecDeque::new(),
            recent_bytes: 0,
            resend: VecDeque::new(),
        };
        let handle = std::thread::Builder::new()
            .name("ipfix-tcp".into())
            .spawn(move || worker.run())
            .map_err(|source| ExportError::Net {
                what: "cannot start exporter thread for",
                peer: cfg.out.clone(),
                source,
            })?;
        let mut sink = Self {
            enc,
            tx: Some(tx),
            worker: Some(handle),
            stats,
            stats_enabled: cfg.stats,
            templates_sent: 0,
            tombstone: opts.tombstone,
            max_delay: opts.max_message_delay,
            closed: false,
        };
        sink.send_templates_if_changed()?;
        Ok(sink)
    }

    /// A snapshot of the writer thread's counters.
    pub fn stats(&self) -> TcpStats {
        self.stats.lock().map(|s| *s).unwrap_or_default()
    }

    /// Transport counters in the form the metrics endpoint takes.
    pub fn export_stats(&self) -> ExportStats {
        let t = self.stats();
        ExportStats {
            messages_sent: t.messages_sent,
            bytes_sent: Some(t.bytes_sent),
            spool_bytes: Some(t.spooled_bytes),
            spool_dropped_messages: Some(t.drops.messages),
            spool_dropped_records: Some(t.drops.records),
            reconnects: Some(t.connects.saturating_sub(1)),
            connected: Some(t.connects > t.disconnects),
            ..ExportStats::default()
        }
    }

    /// Sends the tombstone, delivers what it can within `tcp_shutdown_timeout` (the rest stays
    /// in the spool), stops the writer thread and returns the final counters.
    pub fn close(mut self) -> ExportStats {
        self.shutdown();
        self.export_stats()
    }

    fn shutdown(&mut self) {
        if std::mem::replace(&mut self.closed, true) {
            return;
        }
        if self.tombstone {
            self.enc.push_tombstone();
        }
        let msgs = self.enc.finish();
        for m in msgs {
            if self.send(Cmd::Msg(m)).is_err() {
                break;
            }
        }
        // Closing the channel tells the writer to deliver what it can and stop.
        self.tx = None;
        if let Some(h) = self.worker.take() {
            let _ = h.join();
        }
        let s = self.stats();
        if s.spooled_bytes > 0 {
            tracing::warn!(
                bytes = s.spooled_bytes,
                "IPFIX messages not delivered at exit"
            );
        }
    }

    fn send(&mut self, cmd: Cmd) -> Result<(), ExportError> {
        match &self.tx {
            Some(tx) => tx.send(cmd).map_err(|_| ExportError::Net {
                what: "exporter thread stopped; cannot send to",
                peer: "collector".into(),
                source: std::io::Error::other("writer thread gone"),
            }),
            None => Ok(()),
        }
    }

    /// The writer thread needs the template list of a fresh connection; it grows only when a
    /// rare 8-byte-counter flow template first appears.
    fn send_templates_if_changed(&mut self) -> Result<(), ExportError> {
        let t = self.enc.session_templates(self.enc.builder.sequence());
        let n: usize = t.iter().map(Vec::len).sum();
        if n != self.templates_sent {
            self.templates_sent = n;
            self.send(Cmd::Templates(t))?;
        }
        Ok(())
    }

    fn forward(&mut self) -> Result<(), ExportError> {
        for m in self.enc.take() {
            if m.is_template {
                // An inline template for a new 8-byte-counter flow template: announce it on
                // later connections too.
                self.send_templates_if_changed()?;
            }
            self.send(Cmd::Msg(m))?;
        }
        Ok(())
    }

    fn flush_inner(&mut self) -> Result<(), ExportError> {
        for m in self.enc.finish() {
            self.send(Cmd::Msg(m))?;
        }
        let (ack_tx, ack_rx) = mpsc::sync_channel(1);
        self.send(Cmd::Flush(ack_tx))?;
        let _ = ack_rx.recv();
        Ok(())
    }
}

impl FlowSink for TcpSink {
    fn emit(&mut self, rec: FlowRecord) -> Result<(), SinkError> {
        self.enc.push_flow(&rec);
        self.enc.finish_if_stale(self.max_delay);
        self.forward()?;
        Ok(())
    }

    /// The DNS messages are decoded while the record is encoded (no [`crate::dpi::DnsRecord`]s).
    fn emit_ended(&mut self, f: crate::flow::EndedFlow) -> Result<(), SinkError> {
        self.enc.push_ended(f);
        self.enc.finish_if_stale(self.max_delay);
        self.forward()?;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.flush_inner()?;
        Ok(())
    }

    fn on_stats(&mut self, s: &MeterStats) -> Result<(), SinkError> {
        if self.stats_enabled {
            self.enc.push_stats(s);
            self.enc.finish_if_stale(self.max_delay);
            self.forward()?;
        }
        Ok(())
    }

    fn export_stats(&self) -> Option<ExportStats> {
        Some(TcpSink::export_stats(self))
    }
}

impl Drop for TcpSink {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Now plus `d`, saturating (a configured duration can be absurdly large).
fn later(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .unwrap_or(now + Duration::from_secs(86_400 * 365))
}

struct Worker {
    peer: String,
    rx: Receiver<Cmd>,
    conn: Option<TcpStream>,
    spool: Spool,
    templates: Vec<Vec<u8>>,
    backoff: Duration,
    backoff_initial: Duration,
    backoff_max: Duration,
    next_attempt: Instant,
    shutdown_timeout: Duration,
    stats: Arc<Mutex<TcpStats>>,
    /// Sequence number the next data message will carry.
    next_seq: Option<u32>,
    /// Bytes of recently written data messages kept for resending (0 = off).
    replay_window: u64,
    recent: VecDeque<Vec<u8>>,
    recent_bytes: u64,
    /// Messages to send again, before the spool, on the next connection.
    resend: VecDeque<Vec<u8>>,
}

impl Worker {
    fn run(mut self) {
        loop {
            let wait = if self.conn.is_none() || !self.spool.is_empty() || !self.resend.is_empty() {
                self.next_attempt
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(5))
            } else {
                Duration::from_secs(1)
            };
            match self.rx.recv_timeout(wait) {
                Ok(Cmd::Msg(m)) => self.handle(m),
                Ok(Cmd::Templates(t)) => self.templates = t,
                Ok(Cmd::Flush(ack)) => {
                    self.pump();
                    let _ = ack.send(());
                }
                Err(RecvTimeoutError::Timeout) => self.pump(),
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.publish();
        }
        self.shutdown();
        self.publish();
    }

    fn publish(&self) {
        if let Ok(mut s) = self.stats.lock() {
            s.drops = self.spool.drops;
            s.spooled_bytes = self.spool.bytes();
        }
    }

    fn bump(&self, f: impl FnOnce(&mut TcpStats)) {
        if let Ok(mut s) = self.stats.lock() {
            f(&mut s);
        }
    }

    fn spool(&mut self, m: &Finished) {
        if let Err(e) = self.spool.push(&m.bytes, m.records) {
            // A spool that cannot be written (disk full...) loses the message: say so.
            tracing::error!(error = %e, records = m.records, "cannot spool IPFIX message; dropped");
            self.spool.drops.messages += 1;
            self.spool.drops.records += u64::from(m.records);
        }
    }

    fn handle(&mut self, m: Finished) {
        if let Some(b) = m.bytes.get(8..12) {
            let seq = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            self.next_seq = Some(seq.wrapping_add(m.records));
        }
        // Straight to the socket only when nothing older waits in the spool (order).
        if self.spool.is_empty()
            && self.resend.is_empty()
            && self.conn.is_some()
            && self.write_data(&m.bytes)
        {
            return;
        }
        self.spool(&m);
        self.pump();
    }

    /// Connects if due, then delivers the spool in order.
    fn pump(&mut self) {
        if self.conn.is_none() {
            if Instant::now() < self.next_attempt {
                return;
            }
            self.connect();
        }
        while self.conn.is_some() {
            let Some(m) = self.resend.front().cloned() else {
                break;
            };
            if !self.write_data(&m) {
                return;
            }
            self.resend.pop_front();
            self.bump(|s| s.messages_replayed += 1);
        }
        while self.conn.is_some() {
            let m = match self.spool.peek() {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(e) => {
                    tracing::error!(error = %e, "spool read failed");
                    break;
                }
            };
            if !self.write_data(&m) {
                break;
            }
            if let Err(e) = self.spool.consume() {
                tracing::error!(error = %e, "spool update failed");
                break;
            }
        }
    }

    fn connect(&mut self) {
        let addrs: Vec<SocketAddr> = match self.peer.to_socket_addrs() {
            Ok(a) => a.collect(),
            Err(e) => {
                tracing::warn!(peer = %self.peer, error = %e, "cannot resolve collector");
                Vec::new()
            }
        };
        let mut last_err = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, Duration::from_secs(5)) {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    let _ = s.set_write_timeout(Some(Duration::from_secs(30)));
                    self.conn = Some(s);
                    break;
                }
                Err(e) => last_err = Some(e),
            }
        }
        if self.conn.is_none() {
            self.bump(|s| s.connect_failures += 1);
            tracing::debug!(peer = %self.peer, error = ?last_err, retry_in = ?self.backoff, "collector unreachable");
            self.next_attempt = later(self.backoff);
            self.backoff = self.backoff.saturating_mul(2).min(self.backoff_max);
            return;
        }
        self.backoff = self.backoff_initial;
        self.bump(|s| s.connects += 1);
        tracing::info!(peer = %self.peer, spooled = self.spool.bytes(), "connected to collector");
        // Templates first, numbered like the data message that follows them.
        let mut templates = std::mem::take(&mut self.templates);
        // A template message carries no records, so it takes the number of the data message
        // that follows it: the oldest spooled one, or the next to be encoded.
        let next_seq = match self.spool.peek() {
            Ok(Some(m)) => m.get(8..12).map(<[u8]>::to_vec),
            _ => self.next_seq.map(|s| s.to_be_bytes().to_vec()),
        };
        for t in &mut templates {
            if let (Some(seq), Some(slot)) = (&next_seq, t.get_mut(8..12)) {
                slot.copy_from_slice(seq);
            }
            if !self.write(t) {
                break;
            }
        }
        self.templates = templates;
    }

    /// True when the collector has closed (or reset) the connection.
    fn peer_gone(s: &mut TcpStream) -> bool {
        if s.set_nonblocking(true).is_err() {
            return true;
        }
        let mut buf = [0u8; 512];
        let gone = loop {
            match s.read(&mut buf) {
                Ok(0) => break true,
                // Collectors do not talk back; discard whatever this is.
                Ok(_) => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break true,
            }
        };
        gone || s.set_nonblocking(false).is_err()
    }

    /// Writes a data message and remembers it in the replay window.
    fn write_data(&mut self, bytes: &[u8]) -> bool {
        if !self.write(bytes) {
            return false;
        }
        if self.replay_window > 0 {
            self.recent.push_back(bytes.to_vec());
            self.recent_bytes += bytes.len() as u64;
            while self.recent_bytes > self.replay_window {
                match self.recent.pop_front() {
                    Some(old) => self.recent_bytes -= old.len() as u64,
                    None => break,
                }
            }
        }
        true
    }

    /// Writes one whole message; on failure drops the connection and schedules a reconnect.
    fn write(&mut self, bytes: &[u8]) -> bool {
        let Some(s) = self.conn.as_mut() else {
            return false;
        };
        let ok = !Self::peer_gone(s) && s.write_all(bytes).is_ok();
        if ok {
            let n = bytes.len() as u64;
            self.bump(|st| {
                st.messages_sent += 1;
                st.bytes_sent += n;
            });
        } else {
            tracing::warn!(peer = %self.peer, replay = self.recent.len(), "collector connection lost; spooling");
            self.conn = None;
            // What the collector may not have read yet goes out again first (at least once).
            let mut again = std::mem::take(&mut self.recent);
            again.append(&mut self.resend);
            self.resend = again;
            self.recent_bytes = 0;
            self.bump(|st| st.disconnects += 1);
            self.next_attempt = later(self.backoff);
        }
        ok
    }

    fn shutdown(&mut self) {
        let deadline = later(self.shutdown_timeout);
        loop {
            self.pump();
            if (self.spool.is_empty() && self.resend.is_empty()) || Instant::now() >= deadline {
                break;
            }
            let wake = self.next_attempt.min(deadline);
            std::thread::sleep(
                wake.saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(5)),
            );
        }
        if let Some(s) = self.conn.take() {
            let _ = s.shutdown(std::net::Shutdown::Write);
        }
        // Undelivered replays go to the spool (after newer messages: order is lost, data not).
        while let Some(m) = self.resend.pop_front() {
            let _ = self.spool.push(&m, 0);
        }
        if !self.spool.is_empty() {
            tracing::warn!(peer = %self.peer, bytes = self.spool.bytes(),
                "collector unreachable at shutdown; undelivered messages stay in the spool");
        }
    }
}
