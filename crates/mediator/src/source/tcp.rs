//! IPFIX over TCP (RFC 7011 §10.4): many exporters at once, each connection its own template
//! session; every message is framed by the header's length (bounded), decoded to validate it
//! and keep the session's templates, then written to the session's journal (`journal.rs`).
//! Rows reach the database only through the spool ingester reading those journals.
//!
//! Server skeleton after mini-redis: a `Semaphore` permit per connection (accepting waits at
//! the limit), a `CancellationToken` for shutdown, a `TaskTracker` to wait for sessions, and
//! accept errors retried with backoff.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ipfix_model::{complete_frame_len, Limits, Session};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::journal::{Journal, JournalConfig, JournalError};
use crate::metrics;

/// Observation domains a session tracks for template re-emission (bounds a hostile peer).
pub const MAX_DOMAINS_PER_SESSION: usize = 1024;

/// Settings shared by the network listeners.
#[derive(Clone, Debug)]
pub struct NetConfig {
    pub journal: JournalConfig,
    pub max_sessions: usize,
    pub max_message_len: usize,
    /// Stop reading sockets while this many journal bytes wait for the ingester (0: no limit).
    pub spool_max_bytes: u64,
}

impl NetConfig {
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            max_message_len: self.max_message_len,
            ..Limits::default()
        }
    }

    pub(crate) fn spool_full(&self) -> bool {
        self.spool_max_bytes > 0
            && self.journal.pending.load(Ordering::Relaxed) >= self.spool_max_bytes
    }
}

/// Accepts connections until `cancel`; sessions are spawned on `tracker` (wait on it to know
/// they all closed their journals).
pub async fn run(
    listener: TcpListener,
    cfg: NetConfig,
    cancel: CancellationToken,
    tracker: TaskTracker,
) {
    let sem = Arc::new(Semaphore::new(cfg.max_sessions.max(1)));
    let mut backoff = Duration::from_millis(10);
    loop {
        let permit = tokio::select! {
            _ = cancel.cancelled() => break,
            p = Arc::clone(&sem).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = cancel.cancelled() => break,
            r = listener.accept() => match r {
                Ok(x) => { backoff = Duration::from_millis(10); x }
                Err(e) => {
                    // EMFILE and friends: wait and retry rather than spin or die.
                    tracing::warn!(error = %e, delay_ms = backoff.as_millis() as u64, "accept failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            },
        };
        let cfg = cfg.clone();
        let cancel = cancel.clone();
        tracker.spawn(async move {
            session(stream, peer, cfg, cancel).await;
            drop(permit);
        });
    }
}

/// Why a session ended.
#[derive(Debug, PartialEq, Eq)]
pub enum SessionEnd {
    /// Peer closed between messages.
    Eof,
    /// Peer closed inside a message; the partial message was not journaled.
    EofMidMessage {
        offset: u64,
        buffered: usize,
    },
    /// Invalid IPFIX: the session was closed.
    Garbage {
        offset: u64,
    },
    Shutdown,
    Io,
    Journal,
}

/// One connection, start to end. Returns how it ended (tests) after closing its journal.
pub async fn session(
    mut stream: TcpStream,
    peer: SocketAddr,
    cfg: NetConfig,
    cancel: CancellationToken,
) -> SessionEnd {
    tracing::info!(%peer, "IPFIX session opened");
    let m = metrics::get();
    m.tcp_sessions.inc();
    m.tcp_sessions_active.inc();
    let mut s = Session::with_limits(cfg.limits());
    let mut domains = BTreeSet::new();
    let mut journal = Journal::new(cfg.journal.clone(), "tcp", peer);
    // Bytes from `offset` on; bounded by max_message_len + one read.
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    let mut offset = 0u64;
    let mut read_buf = vec![0u8; 1 << 16];
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut messages = 0u64;
    let end = 'outer: loop {
        if cfg.spool_full() {
            // Back-pressure: the exporter's TCP window fills while the ingester catches up.
            tokio::select! {
                _ = cancel.cancelled() => break 'outer SessionEnd::Shutdown,
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
            if let Err(e) = journal.rotate_if_old() {
                tracing::error!(%peer, error = %e, "journal rotation failed; closing session");
                break 'outer SessionEnd::Journal;
            }
            continue;
        }
        let n = tokio::select! {
            _ = cancel.cancelled() => break 'outer SessionEnd::Shutdown,
            _ = tick.tick() => {
                if let Err(e) = journal.rotate_if_old() {
                    tracing::error!(%peer, error = %e, "journal rotation failed; closing session");
                    break 'outer SessionEnd::Journal;
                }
                continue;
            }
            r = stream.read(&mut read_buf) => match r {
                Ok(0) if buf.is_empty() => break 'outer SessionEnd::Eof,
                Ok(0) => {
                    tracing::warn!(%peer, offset, buffered = buf.len(), "peer closed the connection inside a message; partial message dropped");
                    break 'outer SessionEnd::EofMidMessage { offset, buffered: buf.len() };
                }
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(%peer, offset, error = %e, "read failed; closing session");
                    break 'outer SessionEnd::Io;
                }
            },
        };
        buf.extend_from_slice(read_buf.get(..n).unwrap_or_default());
        loop {
            let len = match complete_frame_len(&buf, cfg.max_message_len, offset) {
                Ok(Some(len)) => len,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(%peer, offset = e.offset(), error = %e, "not IPFIX; closing session");
                    break 'outer SessionEnd::Garbage { offset: e.offset() };
                }
            };
            let Some(frame) = buf.get(..len) else { break };
            if let Err(e) = journal.prepare(&s, &domains) {
                tracing::error!(%peer, error = %e, "cannot write the journal; closing session");
                break 'outer SessionEnd::Journal;
            }
            match s.decode(frame, offset) {
                Ok(msg) => {
                    for w in &msg.warnings {
                        tracing::debug!(%peer, warning = %w, "IPFIX warning");
                    }
                    if domains.len() < MAX_DOMAINS_PER_SESSION {
                        domains.insert(msg.header.domain_id);
                    }
                }
                Err(e) => {
                    tracing::warn!(%peer, offset = e.offset(), error = %e, "undecodable IPFIX message; closing session");
                    break 'outer SessionEnd::Garbage { offset: e.offset() };
                }
            }
            if let Err(e) = journal.append(frame) {
                log_journal_error(peer, &e);
                break 'outer SessionEnd::Journal;
            }
            messages += 1;
            m.message("tcp");
            m.bytes_journaled.inc_by(len as u64);
            buf.drain(..len);
            offset += len as u64;
        }
    };
    if let Err(e) = journal.finish() {
        log_journal_error(peer, &e);
    }
    m.tcp_sessions_active.dec();
    match end {
        SessionEnd::Garbage { .. } => m.session_error("invalid_ipfix"),
        SessionEnd::EofMidMessage { .. } => m.session_error("eof_mid_message"),
        SessionEnd::Io => m.session_error("io"),
        SessionEnd::Journal => m.session_error("journal"),
        SessionEnd::Eof | SessionEnd::Shutdown => {}
    }
    tracing::info!(%peer, messages, bytes = offset, files = journal.files_written(), end = ?end, "IPFIX session closed");
    end
}

fn log_journal_error(peer: SocketAddr, e: &JournalError) {
    tracing::error!(%peer, error = %e, "journal write failed");
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    fn cfg(dir: &std::path::Path, max: usize) -> NetConfig {
        NetConfig {
            journal: JournalConfig::new(dir.to_path_buf(), 1 << 20, Duration::from_secs(3600)),
            max_sessions: 4,
            max_message_len: max,
            spool_max_bytes: 0,
        }
    }

    /// Runs one session against `bytes` sent by a client that then closes.
    async fn one(bytes: Vec<u8>, max: usize) -> (SessionEnd, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let _ = s.write_all(&bytes).await;
            let _ = s.shutdown().await;
            // Hold the socket until the server is done reading.
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink).await;
        });
        let (stream, peer) = l.accept().await.unwrap();
        let end = session(stream, peer, cfg(dir.path(), max), CancellationToken::new()).await;
        client.await.unwrap();
        (end, dir)
    }

    /// Header: version 10, `len`, export time, sequence, domain 1.
    fn header(len: u16) -> Vec<u8> {
        let mut v = vec![0x00, 0x0a];
        v.extend(len.to_be_bytes());
        v.extend([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        v
    }

    #[tokio::test]
    async fn oversized_message_closes_session_at_its_offset() {
        // One valid empty message (16 bytes), then one announcing 2000 bytes with a 1000 limit.
        let mut b = header(16);
        b.extend(header(2000));
        let (end, dir) = one(b, 1000).await;
        assert_eq!(end, SessionEnd::Garbage { offset: 16 });
        // The valid message was journaled; the file is closed and unlocked.
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(names[0].ends_with(".ipfix"));
        assert_eq!(
            std::fs::read(dir.path().join(&names[0])).unwrap(),
            header(16)
        );
    }

    #[tokio::test]
    async fn bad_version_and_short_length_are_garbage() {
        let mut b = header(16);
        b[1] = 9; // NetFlow v9 is not IPFIX
        assert_eq!(one(b, 65535).await.0, SessionEnd::Garbage { offset: 0 });
        let b = header(15);
        assert_eq!(one(b, 65535).await.0, SessionEnd::Garbage { offset: 0 });
    }

    #[tokio::test]
    async fn eof_inside_a_message_is_reported_and_not_journaled() {
        let mut b = header(16);
        b.extend(&header(40)[..10]);
        let (end, dir) = one(b, 65535).await;
        assert_eq!(
            end,
            SessionEnd::EofMidMessage {
                offset: 16,
                buffered: 10
            }
        );
        let total: u64 = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.metadata().unwrap().len())
            .sum();
        assert_eq!(total, 16);
    }

    #[tokio::test]
    async fn clean_eof_between_messages() {
        let mut b = header(16);
        b.extend(header(16));
        assert_eq!(one(b, 65535).await.0, SessionEnd::Eof);
    }
}
