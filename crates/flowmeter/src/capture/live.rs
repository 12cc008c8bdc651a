//! Live capture through libpcap (the `pcap` crate).
//!
//! libpcap runs on its own thread in immediate mode so that a slow flow
//! table never stalls the kernel ring; packets cross to the pipeline in
//! batches whose buffers are recycled, so steady state allocates nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{CaptureError, CaptureStats, Packet, PacketSource, Poll};

/// How to open an interface.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// Interface name (`--in` with `--live pcap`).
    pub iface: String,
    /// BPF filter expression (`--filter`).
    pub filter: Option<String>,
    /// Promiscuous mode (on unless `--promisc-off`).
    pub promisc: bool,
    /// Bytes captured per packet (`--snaplen`).
    pub snaplen: u32,
    /// libpcap read timeout (where the platform honours it with immediate mode).
    pub timeout_ms: i32,
}

const BATCH_PACKETS: usize = 512;
const BATCH_QUEUE: usize = 64;

#[derive(Default)]
struct Batch {
    data: Vec<u8>,
    /// (ts_ns, wire_len, start, end) into `data`.
    meta: Vec<(u64, u32, usize, usize)>,
}

enum Msg {
    Batch(Batch),
    Error(String),
}

/// A running live capture.
pub struct LiveSource {
    name: String,
    linktype: u32,
    rx: Receiver<Msg>,
    recycle: SyncSender<Batch>,
    stop: Arc<AtomicBool>,
    /// Ends a read in progress at shutdown.
    breaker: pcap::BreakLoop,
    stats: Arc<Mutex<CaptureStats>>,
    delivered: u64,
    thread: Option<JoinHandle<()>>,
    pending: Option<Batch>,
    pending_pos: usize,
}

impl std::fmt::Debug for LiveSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSource")
            .field("iface", &self.name)
            .finish()
    }
}

fn live_err(iface: &str, e: impl std::fmt::Display) -> CaptureError {
    CaptureError::Live {
        iface: iface.to_owned(),
        detail: e.to_string(),
    }
}

impl LiveSource {
    /// Open the interface, apply the filter and start the capture thread.
    /// Privileges may be dropped as soon as this returns.
    pub fn open(cfg: &LiveConfig) -> Result<Self, CaptureError> {
        let iface = cfg.iface.as_str();
        let snaplen = i32::try_from(cfg.snaplen).unwrap_or(i32::MAX);
        let inactive = |precision| {
            pcap::Capture::from_device(iface).map(|c| {
                c.promisc(cfg.promisc)
                    .snaplen(snaplen)
                    .immediate_mode(true)
                    .timeout(cfg.timeout_ms)
                    .buffer_size(16 * 1024 * 1024)
                    .precision(precision)
            })
        };
        // Nanosecond stamps where the platform has them, else microseconds.
        let (cap, nanos) = match inactive(pcap::Precision::Nano).and_then(|c| c.open()) {
            Ok(c) => (c, true),
            Err(_) => (
                inactive(pcap::Precision::Micro)
                    .and_then(|c| c.open())
                    .map_err(|e| live_err(iface, e))?,
                false,
            ),
        };
        // Non-blocking reads: on Linux, immediate mode makes libpcap ignore
        // the read timeout, so a blocking read would hold a partial batch
        // (and shutdown) until the next packet arrives.
        let mut cap = cap.setnonblock().map_err(|e| live_err(iface, e))?;
        if let Some(f) = &cfg.filter {
            cap.filter(f, true)
                .map_err(|e| live_err(iface, format!("BPF filter {f:?}: {e}")))?;
        }
        let linktype = cap.get_datalink().0 as u32;
        let breaker = cap.breakloop_handle();
        let (tx, rx) = mpsc::sync_channel::<Msg>(BATCH_QUEUE);
        let (recycle, recycled) = mpsc::sync_channel::<Batch>(BATCH_QUEUE + 2);
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Mutex::new(CaptureStats::default()));
        let t_stop = Arc::clone(&stop);
        let t_stats = Arc::clone(&stats);
        let thread = std::thread::Builder::new()
            .name(format!("capture-{iface}"))
            .spawn(move || capture_loop(cap, nanos, tx, recycled, t_stop, t_stats))
            .map_err(|e| live_err(iface, e))?;
        Ok(LiveSource {
            name: iface.to_owned(),
            linktype,
            rx,
            recycle,
            stop,
            breaker,
            stats,
            delivered: 0,
            thread: Some(thread),
            pending: None,
            pending_pos: 0,
        })
    }

    /// Link type of the interface.
    pub fn linktype(&self) -> u32 {
        self.linktype
    }
}

fn capture_loop(
    mut cap: pcap::Capture<pcap::Active>,
    nanos: bool,
    tx: SyncSender<Msg>,
    recycled: Receiver<Batch>,
    stop: Arc<AtomicBool>,
    stats: Arc<Mutex<CaptureStats>>,
) {
    let _cpu = crate::procfs::ThreadCpuGuard("capture");
    let mut batch = Batch::default();
    let mut last_stats = std::time::Instant::now();
    let update_stats = |cap: &mut pcap::Capture<pcap::Active>| {
        if let Ok(s) = cap.stats() {
            if let Ok(mut g) = stats.lock() {
                g.received = u64::from(s.received);
                g.dropped = u64::from(s.dropped);
                g.if_dropped = u64::from(s.if_dropped);
            }
        }
    };
    while !stop.load(Ordering::Relaxed) {
        let flush = match cap.next_packet() {
            Ok(p) => {
                let sec = u64::try_from(p.header.ts.tv_sec).unwrap_or(0);
                let frac = u64::try_from(p.header.ts.tv_usec).unwrap_or(0);
                let ts_ns = sec * 1_000_000_000 + if nanos { frac } else { frac * 1000 };
                let start = batch.data.len();
                batch.data.extend_from_slice(p.data);
                batch
                    .meta
                    .push((ts_ns, p.header.len, start, batch.data.len()));
                batch.meta.len() >= BATCH_PACKETS
            }
            Err(pcap::Error::TimeoutExpired) => {
                // Nothing waiting: hand over what we have, then nap briefly.
                if batch.meta.is_empty() {
                    std::thread::sleep(Duration::from_millis(2));
                }
                !batch.meta.is_empty()
            }
            Err(pcap::Error::NoMorePackets) => break,
            Err(e) => {
                let _ = tx.send(Msg::Error(e.to_string()));
                return;
            }
        };
        if flush {
            let mut next = recycled.try_recv().unwrap_or_default();
            next.data.clear();
            next.meta.clear();
            let full = std::mem::replace(&mut batch, next);
            if tx.send(Msg::Batch(full)).is_err() {
                return; // reader gone
            }
        }
        if last_stats.elapsed() >= Duration::from_secs(1) {
            last_stats = std::time::Instant::now();
            update_stats(&mut cap);
        }
    }
    update_stats(&mut cap);
    if !batch.meta.is_empty() {
        let _ = tx.send(Msg::Batch(batch));
    }
}

impl PacketSource for LiveSource {
    fn poll(&mut self, max: usize, f: &mut dyn FnMut(&Packet<'_>)) -> Result<Poll, CaptureError> {
        if self.pending.is_none() {
            match self.rx.recv_timeout(Duration::from_millis(250)) {
                Ok(Msg::Batch(b)) => {
                    self.pending = Some(b);
                    self.pending_pos = 0;
                }
                Ok(Msg::Error(e)) => return Err(live_err(&self.name, e)),
                Err(RecvTimeoutError::Timeout) => return Ok(Poll::Idle),
                Err(RecvTimeoutError::Disconnected) => return Ok(Poll::Eof),
            }
        }
        let mut n = 0;
        if let Some(b) = &self.pending {
            while n < max {
                let Some(&(ts_ns, wire_len, s, e)) = b.meta.get(self.pending_pos) else {
                    break;
                };
                self.pending_pos += 1;
                if let Some(data) = b.data.get(s..e) {
                    f(&Packet {
                        ts_ns,
                        linktype: self.linktype,
                        wire_len,
                        data,
                    });
                    n += 1;
                }
            }
            if self.pending_pos >= b.meta.len() {
                if let Some(b) = self.pending.take() {
                    let _ = self.recycle.try_send(b);
                }
            }
        }
        self.delivered += n as u64;
        Ok(Poll::Packets(n))
    }

    fn stats(&self) -> CaptureStats {
        let mut s = self.stats.lock().map(|g| *g).unwrap_or_default();
        // libpcap's "received" counts what passed the filter, even packets
        // still queued; report what we actually delivered as received too
        // when larger (the kernel counter is 32 bits and wraps).
        s.received = s.received.max(self.delivered);
        s
    }

    fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for LiveSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.breaker.breakloop();
        // Unblock a capture thread waiting on a full queue.
        while self.rx.try_recv().is_ok() {}
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Switch to `user`/`group` after the capture handle is open, as YAF's
/// `--become-user`/`--become-group` do. Group first: once the user id is
/// dropped we may no longer change groups.
pub fn drop_privileges(user: Option<&str>, group: Option<&str>) -> Result<(), CaptureError> {
    use nix::unistd::{setgid, setgroups, setuid, Group, User};
    let perr = |what: &str, e: &dyn std::fmt::Display| CaptureError::Privileges {
        what: what.to_owned(),
        detail: e.to_string(),
    };
    let user = match user {
        Some(u) => Some(
            User::from_name(u)
                .map_err(|e| perr(u, &e))?
                .ok_or_else(|| perr(u, &"no such user"))?,
        ),
        None => None,
    };
    let gid = match group {
        Some(g) => Some(
            Group::from_name(g)
                .map_err(|e| perr(g, &e))?
                .ok_or_else(|| perr(g, &"no such group"))?
                .gid,
        ),
        None => user.as_ref().map(|u| u.gid),
    };
    if let Some(gid) = gid {
        setgroups(&[gid]).map_err(|e| perr("supplementary groups", &e))?;
        setgid(gid).map_err(|e| perr("group", &e))?;
    }
    if let Some(u) = user {
        setuid(u.uid).map_err(|e| perr(&u.name, &e))?;
        // Regaining root must now fail; if it does not, the drop did not stick.
        if setuid(nix::unistd::Uid::from_raw(0)).is_ok() && !u.uid.is_root() {
            return Err(perr(&u.name, &"could regain root after setuid"));
        }
    }
    Ok(())
}
