//! IPFIX over UDP (RFC 7011 §10.3): one template session per exporter address, journaled like
//! TCP sessions. UDP cannot push back, so a bad datagram is dropped (counted, logged at most
//! once a minute per peer) and the peer's session carries on.
//!
//! Template lifetime: a peer silent for `template_timeout` loses its session (templates
//! included) and must resend templates, which UDP exporters do periodically anyway. Templates
//! are not expired one by one while the peer keeps sending (ipfix-model's cache has no per-
//! template age); a redefinition replaces a template as usual.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ipfix_model::{complete_frame_len, Session};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::tcp::{NetConfig, MAX_DOMAINS_PER_SESSION};
use crate::journal::Journal;
use crate::metrics;

struct Peer {
    session: Session,
    domains: BTreeSet<u32>,
    journal: Journal,
    last_seen: Instant,
    /// Stream position for error messages: bytes received from this peer.
    offset: u64,
    dropped: u64,
    last_warn: Option<Instant>,
}

pub async fn run(
    sock: UdpSocket,
    cfg: NetConfig,
    template_timeout: Duration,
    cancel: CancellationToken,
) {
    let mut peers: HashMap<SocketAddr, Peer> = HashMap::new();
    let mut buf = vec![0u8; 65535];
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        let (n, addr) = tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tick.tick() => {
                peers.retain(|addr, p| {
                    if p.last_seen.elapsed() >= template_timeout {
                        tracing::info!(peer = %addr, "UDP exporter silent; session and templates dropped");
                        return false; // Journal::drop closes the file
                    }
                    if let Err(e) = p.journal.rotate_if_old() {
                        tracing::error!(peer = %addr, error = %e, "journal rotation failed");
                    }
                    true
                });
                continue;
            }
            r = sock.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "UDP receive failed");
                    continue;
                }
            },
        };
        if !peers.contains_key(&addr) && peers.len() >= cfg.max_sessions.max(1) {
            // Evict the quietest exporter rather than refuse the new one.
            if let Some(old) = peers
                .iter()
                .min_by_key(|(_, p)| p.last_seen)
                .map(|(a, _)| *a)
            {
                tracing::warn!(peer = %old, "too many UDP exporters; dropping the least recent session");
                peers.remove(&old);
            }
        }
        let p = peers.entry(addr).or_insert_with(|| {
            tracing::info!(peer = %addr, "new UDP exporter");
            Peer {
                session: Session::with_limits(cfg.limits()),
                domains: BTreeSet::new(),
                journal: Journal::new(cfg.journal.clone(), "udp", addr),
                last_seen: Instant::now(),
                offset: 0,
                dropped: 0,
                last_warn: None,
            }
        });
        p.last_seen = Instant::now();
        let mut data = buf.get(..n).unwrap_or_default();
        // A datagram may carry several messages.
        while !data.is_empty() {
            let at = p.offset;
            let len = match complete_frame_len(data, cfg.max_message_len, at) {
                Ok(Some(len)) => len,
                Ok(None) => {
                    warn_drop(addr, p, at, "datagram ends inside a message");
                    break;
                }
                Err(e) => {
                    warn_drop(addr, p, e.offset(), &e.to_string());
                    break;
                }
            };
            let Some(frame) = data.get(..len) else { break };
            if let Err(e) = p.journal.prepare(&p.session, &p.domains) {
                tracing::error!(peer = %addr, error = %e, "cannot write the journal; datagram dropped");
                break;
            }
            match p.session.decode(frame, at) {
                Ok(msg) => {
                    if p.domains.len() < MAX_DOMAINS_PER_SESSION {
                        p.domains.insert(msg.header.domain_id);
                    }
                }
                Err(e) => {
                    warn_drop(addr, p, e.offset(), &e.to_string());
                    p.offset += len as u64;
                    break;
                }
            }
            if let Err(e) = p.journal.append(frame) {
                tracing::error!(peer = %addr, error = %e, "journal write failed; message dropped");
            } else {
                let m = metrics::get();
                m.message("udp");
                m.bytes_journaled.inc_by(len as u64);
            }
            p.offset += len as u64;
            data = data.get(len..).unwrap_or_default();
        }
    }
    // Dropping the peers closes (fsyncs, unlocks) their journals.
    drop(peers);
}

fn warn_drop(addr: SocketAddr, p: &mut Peer, offset: u64, why: &str) {
    p.dropped += 1;
    metrics::get().udp_dropped.inc();
    if p.last_warn
        .is_none_or(|t| t.elapsed() >= Duration::from_secs(60))
    {
        p.last_warn = Some(Instant::now());
        tracing::warn!(peer = %addr, offset, dropped = p.dropped, reason = why, "UDP message dropped");
    }
}
