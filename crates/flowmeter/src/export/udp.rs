//! IPFIX over UDP (RFC 7011 §10.3): templates resent periodically (§8.4), since a collector
//! that starts (or loses a datagram) after the first template message could otherwise never
//! decode anything. Refresh is by time (YAF's `--udp-temp-timeout`, default 600 s) and,
//! optionally, every N data messages. Messages are packed to `udp_max_message` octets so they
//! are not IP-fragmented; a single larger flow record (many DNS records) is sent alone.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use crate::config::ExportConfig;
use crate::flow::sink::ExportStats;
use crate::flow::{FlowRecord, FlowSink, MeterStats, SinkError};

use super::{Encoder, ExportError, SinkOptions};

/// How often to resend templates for a collector that forgets them after `template_timeout`
/// (YAF's `--udp-temp-timeout`): three times per timeout, as YAF does after RFC 5101. YAF
/// measures it in flow-end (packet) time; we use the wall clock, which is what the collector's
/// timeout runs on (a file read fast would otherwise refresh after nearly every record).
pub fn refresh_interval(template_timeout: Duration) -> Duration {
    template_timeout / 3
}

/// Counters of the UDP exporter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UdpStats {
    pub messages_sent: u64,
    /// Octets of the datagrams the kernel accepted (IPFIX messages, templates included).
    pub bytes_sent: u64,
    /// Times the full template set was sent.
    pub template_sends: u64,
    pub send_errors: u64,
}

/// The UDP exporter.
#[derive(Debug)]
pub struct UdpSink {
    pub(super) enc: Encoder,
    sock: UdpSocket,
    peer: String,
    refresh: Duration,
    refresh_messages: u64,
    last_templates: Option<Instant>,
    since_templates: u64,
    stats_enabled: bool,
    tombstone: bool,
    max_delay: std::time::Duration,
    stats: UdpStats,
    closed: bool,
}

impl UdpSink {
    pub fn open(cfg: &ExportConfig, opts: &SinkOptions) -> Result<Self, ExportError> {
        let peer = if cfg.out.parse::<std::net::Ipv6Addr>().is_ok() {
            format!("[{}]:{}", cfg.out, cfg.port)
        } else {
            format!("{}:{}", cfg.out, cfg.port)
        };
        let net = |what, source| ExportError::Net {
            what,
            peer: peer.clone(),
            source,
        };
        let target = std::net::ToSocketAddrs::to_socket_addrs(&peer)
            .map_err(|e| net("cannot resolve", e))?
            .next()
            .ok_or_else(|| net("no address for", std::io::Error::other("empty resolution")))?;
        let bind = if target.is_ipv6() {
            "[::]:0"
        } else {
            "0.0.0.0:0"
        };
        let sock = UdpSocket::bind(bind).map_err(|e| net("cannot open socket for", e))?;
        sock.connect(target)
            .map_err(|e| net("cannot connect to", e))?;
        Ok(Self {
            enc: Encoder::new(cfg, opts, opts.udp_max_message, false)?,
            sock,
            peer: peer.clone(),
            refresh: opts.udp_template_refresh,
            refresh_messages: opts.udp_template_refresh_messages,
            last_templates: None,
            since_templates: 0,
            stats_enabled: cfg.stats,
            tombstone: opts.tombstone,
            max_delay: opts.max_message_delay,
            stats: UdpStats::default(),
            closed: false,
        })
    }

    pub fn stats(&self) -> UdpStats {
        self.stats
    }

    /// Transport counters in the form the metrics endpoint takes.
    pub fn export_stats(&self) -> ExportStats {
        ExportStats {
            messages_sent: self.stats.messages_sent,
            bytes_sent: Some(self.stats.bytes_sent),
            send_errors: Some(self.stats.send_errors),
            ..ExportStats::default()
        }
    }

    /// Sends what is buffered and the tombstone; returns the final counters.
    pub fn close(mut self) -> ExportStats {
        self.finish_output();
        self.export_stats()
    }

    fn finish_output(&mut self) {
        if std::mem::replace(&mut self.closed, true) {
            return;
        }
        if self.tombstone {
            self.enc.push_tombstone();
        }
        self.enc.builder.finish();
        self.forward();
    }

    fn due(&self) -> bool {
        match self.last_templates {
            None => true,
            Some(t) => {
                t.elapsed() >= self.refresh
                    || (self.refresh_messages > 0 && self.since_templates >= self.refresh_messages)
            }
        }
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        match self.sock.send(bytes) {
            Ok(n) => {
                self.stats.messages_sent += 1;
                self.stats.bytes_sent += n as u64;
            }
            Err(e) => {
                // UDP export is lossy by nature (ICMP unreachable while the collector is
                // down): count, log once in a while, carry on.
                self.stats.send_errors += 1;
                if self.stats.send_errors.is_power_of_two() {
                    tracing::warn!(peer = %self.peer, error = %e, errors = self.stats.send_errors,
                        "IPFIX/UDP send failed");
                }
            }
        }
    }

    fn forward(&mut self) {
        for m in self.enc.take() {
            if self.due() {
                let seq = m.bytes.get(8..12).map(<[u8]>::to_vec);
                for mut t in self.enc.session_templates(0) {
                    if let (Some(seq), Some(slot)) = (&seq, t.get_mut(8..12)) {
                        slot.copy_from_slice(seq);
                    }
                    self.send_raw(&t);
                }
                self.stats.template_sends += 1;
                self.last_templates = Some(Instant::now());
                self.since_templates = 0;
            }
            self.send_raw(&m.bytes);
            if !m.is_template {
                self.since_templates += 1;
            }
        }
    }
}

impl FlowSink for UdpSink {
    fn emit(&mut self, rec: FlowRecord) -> Result<(), SinkError> {
        self.enc.push_flow(&rec);
        self.enc.finish_if_stale(self.max_delay);
        self.forward();
        Ok(())
    }

    /// The DNS messages are decoded while the record is encoded (no [`crate::dpi::DnsRecord`]s).
    fn emit_ended(&mut self, f: crate::flow::EndedFlow) -> Result<(), SinkError> {
        self.enc.push_ended(f);
        self.enc.finish_if_stale(self.max_delay);
        self.forward();
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.enc.builder.finish();
        self.forward();
        Ok(())
    }

    fn on_stats(&mut self, s: &MeterStats) -> Result<(), SinkError> {
        if self.stats_enabled {
            self.enc.push_stats(s);
            self.enc.finish_if_stale(self.max_delay);
            self.forward();
        }
        Ok(())
    }

    fn export_stats(&self) -> Option<ExportStats> {
        Some(UdpSink::export_stats(self))
    }
}

impl Drop for UdpSink {
    fn drop(&mut self) {
        self.finish_output();
    }
}
