//! A single updating status line on a terminal for long file runs (packets, flows, DNS
//! records, rate, share of the input read). Nothing when stderr is not a terminal, so logs
//! and journald get only the final summary.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use flowmeter::pipeline::Published;

/// Per-packet record header of the classic pcap format: the share of the input read is
/// estimated from captured bytes plus this, which pcapng's larger blocks make an underestimate.
const PCAP_RECORD_HEADER: u64 = 16;

/// `Some(total input bytes, 0 = unknown)` when a progress line should be shown.
pub fn wanted(paths: &[PathBuf]) -> Option<u64> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let mut total = 0u64;
    for p in paths {
        if p.as_os_str() == "-" {
            return Some(0);
        }
        total += std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    }
    Some(total)
}

/// What the progress line shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    pub packets: u64,
    pub flows: u64,
    pub dns: u64,
    /// Packets per second.
    pub rate: f64,
    /// Input bytes read (estimate) and the input's size (0 = unknown).
    pub read: u64,
    pub total: u64,
    /// IPFIX octets exported so far, when there is an exporter.
    pub exported: Option<u64>,
}

/// The line for these counters.
pub fn line(p: &Progress) -> String {
    let Progress {
        packets,
        flows,
        dns,
        rate,
        read,
        total,
        exported,
    } = *p;
    let mut s = format!(
        "flowmeter: {packets} packets, {flows} flows, {dns} DNS records, {:.0} packets/s",
        rate
    );
    if let Some(b) = exported {
        s.push_str(&format!(", {b} IPFIX bytes out"));
    }
    if total > 0 {
        let pct = (read as f64 * 100.0 / total as f64).min(100.0);
        s.push_str(&format!(", {pct:.0}% of input"));
    }
    s
}

/// Prints the line every second until the pipeline is done, then clears it.
pub fn spawn(p: Arc<Published>, total: u64) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut last = (Instant::now(), 0u64);
        let mut next = Instant::now() + Duration::from_secs(1);
        let mut err = std::io::stderr();
        while !p.done.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(100));
            if Instant::now() < next {
                continue;
            }
            next += Duration::from_secs(1);
            let s = p.read();
            let now = Instant::now();
            let dt = now.duration_since(last.0).as_secs_f64().max(1e-3);
            let rate = s.meter.packets.saturating_sub(last.1) as f64 / dt;
            last = (now, s.meter.packets);
            let read = s
                .bytes
                .saturating_add(s.meter.packets.saturating_mul(PCAP_RECORD_HEADER));
            let l = line(&Progress {
                packets: s.meter.packets,
                flows: s.meter.flows_exported + s.meter.active_flows,
                dns: s.dns.records,
                rate,
                read,
                total,
                exported: s.export.and_then(|e| e.bytes_sent),
            });
            // \r + "erase line": the line is rewritten in place.
            let _ = write!(err, "\r\x1b[2K{l}");
            let _ = err.flush();
        }
        let _ = write!(err, "\r\x1b[2K");
        let _ = err.flush();
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_shows_share_only_when_total_known() {
        let p = Progress {
            packets: 10,
            flows: 2,
            dns: 3,
            rate: 5.4,
            read: 50,
            total: 200,
            exported: None,
        };
        assert_eq!(
            line(&p),
            "flowmeter: 10 packets, 2 flows, 3 DNS records, 5 packets/s, 25% of input"
        );
        assert_eq!(
            line(&Progress { total: 0, ..p }),
            "flowmeter: 10 packets, 2 flows, 3 DNS records, 5 packets/s"
        );
        assert_eq!(
            line(&Progress {
                exported: Some(4096),
                ..p
            }),
            "flowmeter: 10 packets, 2 flows, 3 DNS records, 5 packets/s, 4096 IPFIX bytes out, 25% of input"
        );
        // The estimate never claims more than all of it.
        assert!(line(&Progress {
            read: 500,
            total: 100,
            ..p
        })
        .ends_with("100% of input"));
    }
}
