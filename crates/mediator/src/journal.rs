//! Network input -> rotated files in the spool directory, so that what a session delivered
//! survives `kill -9` and the spool ingester is the single path into the database.
//!
//! Layout, as `yaf --rotate --lock` / `flowmeter --rotate --lock` write it, so the same
//! ingester takes both:
//! - `mediator-YYYYMMDDhhmmss-SSSSSSSS-PID-<proto>-<peer>.ipfix`: UTC time of opening, a
//!   per-process serial, the pid (names never collide across restarts) and the peer. Names
//!   sort in opening order within one process.
//! - `<name>.lock` exists while the file is written (created O_EXCL before the file); the file
//!   is fsynced before the lock is removed.
//! - Every file is decodable alone: it starts with the session's templates as they stood
//!   before its first message (RFC 7011 templates are scoped to the session, and a rotated
//!   file is read as a new session).
//! - Each message is written to the kernel right after it was read from the socket and
//!   decoded, so a killed process loses nothing it read; a crashed *machine* may lose what the
//!   page cache had not written yet for the open file (fsync happens at rotation).
//! - `.mediator.lock` in the spool directory is held (flock) by the running mediator; a new
//!   instance that gets it knows every journal `.lock` left there belongs to a dead process
//!   and recovers those files ([`recover`]).

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipfix_model::message::{
    MessageHeader, HEADER_LEN, OPTIONS_TEMPLATE_SET_ID, TEMPLATE_SET_ID, VERSION,
};
use ipfix_model::{FileReader, Message, Session, Set, SetContent, TemplateRecord};

/// Prefix of journal file names; the ingester uses it to recognise journals (sensor = peer).
pub const JOURNAL_PREFIX: &str = "mediator-";
/// Extension of journal files.
pub const JOURNAL_EXT: &str = ".ipfix";
/// Name of the file a running mediator holds locked in its spool directory.
pub const DIR_LOCK: &str = ".mediator.lock";

/// Largest template message we write: below the 16-bit message length with room to spare.
const MAX_TEMPLATE_MESSAGE: usize = 60_000;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("spool directory {0} is in use by another mediator (lock {DIR_LOCK} held)")]
    Busy(PathBuf),
    #[error("cannot encode the session's templates for a new journal file: {0}")]
    Encode(#[from] ipfix_model::EncodeError),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where and when journal files rotate, and the spool's shared accounting.
#[derive(Clone, Debug)]
pub struct JournalConfig {
    pub dir: PathBuf,
    /// Rotate when a file reaches this size.
    pub max_bytes: u64,
    /// Rotate (close and hand over to the ingester) when a file is this old, even when the
    /// session is idle: bounds how long received data waits before loading.
    pub max_age: Duration,
    /// Bytes in journal files not yet ingested (shared with the ingester, for back-pressure).
    pub pending: Arc<AtomicU64>,
    /// Process-wide file serial.
    pub serial: Arc<AtomicU64>,
}

impl JournalConfig {
    pub fn new(dir: PathBuf, max_bytes: u64, max_age: Duration) -> Self {
        Self {
            dir,
            max_bytes,
            max_age,
            pending: Arc::new(AtomicU64::new(0)),
            serial: Arc::new(AtomicU64::new(0)),
        }
    }
}

struct OpenFile {
    path: PathBuf,
    lock: PathBuf,
    file: File,
    bytes: u64,
    opened: Instant,
}

/// The journal of one session (TCP connection or UDP peer).
pub struct Journal {
    cfg: JournalConfig,
    /// `tcp-192.0.2.1_4739`: file-name safe.
    label: String,
    open: Option<OpenFile>,
    files_written: u64,
}

impl Journal {
    pub fn new(cfg: JournalConfig, proto: &str, peer: std::net::SocketAddr) -> Self {
        let ip = peer.ip().to_string().replace(':', "-");
        Self {
            cfg,
            label: format!("{proto}-{ip}_{}", peer.port()),
            open: None,
            files_written: 0,
        }
    }

    pub fn files_written(&self) -> u64 {
        self.files_written
    }

    /// Call before decoding each message: rotates when the current file is full or old, and
    /// opens a new file starting with `session`'s templates (its state *before* the message,
    /// which is what the message's data needs).
    pub fn prepare(
        &mut self,
        session: &Session,
        domains: &BTreeSet<u32>,
    ) -> Result<(), JournalError> {
        if let Some(o) = &self.open {
            if o.bytes >= self.cfg.max_bytes || o.opened.elapsed() >= self.cfg.max_age {
                self.finish()?;
            }
        }
        if self.open.is_none() {
            self.open_new(session, domains)?;
        }
        Ok(())
    }

    /// Appends one raw message (already decoded successfully by the caller).
    pub fn append(&mut self, raw: &[u8]) -> Result<(), JournalError> {
        let Some(o) = self.open.as_mut() else {
            return Err(JournalError::Io {
                path: self.cfg.dir.clone(),
                source: io::Error::other("append without prepare"),
            });
        };
        o.file.write_all(raw).map_err(io_err(&o.path))?;
        o.bytes += raw.len() as u64;
        self.cfg
            .pending
            .fetch_add(raw.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Closes the current file if it is older than the maximum age (for idle sessions).
    pub fn rotate_if_old(&mut self) -> Result<(), JournalError> {
        if self
            .open
            .as_ref()
            .is_some_and(|o| o.opened.elapsed() >= self.cfg.max_age)
        {
            self.finish()?;
        }
        Ok(())
    }

    /// fsyncs and closes the current file, then removes its lock: from here on the ingester
    /// may take it.
    pub fn finish(&mut self) -> Result<(), JournalError> {
        let Some(o) = self.open.take() else {
            return Ok(());
        };
        o.file.sync_all().map_err(io_err(&o.path))?;
        drop(o.file);
        sync_dir(&self.cfg.dir);
        fs::remove_file(&o.lock).map_err(io_err(&o.lock))?;
        sync_dir(&self.cfg.dir);
        Ok(())
    }

    fn open_new(&mut self, session: &Session, domains: &BTreeSet<u32>) -> Result<(), JournalError> {
        let now = time::OffsetDateTime::now_utc();
        let stamp = format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second()
        );
        let serial = self.cfg.serial.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "{JOURNAL_PREFIX}{stamp}-{serial:08}-{}-{}{JOURNAL_EXT}",
            std::process::id(),
            self.label
        );
        let path = self.cfg.dir.join(&name);
        let lock = self.cfg.dir.join(format!("{name}.lock"));
        // Lock first, as airlock does: the ingester never sees the file without its lock.
        let mut lf = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock)
            .map_err(io_err(&lock))?;
        let _ = writeln!(lf, "{}", std::process::id());
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_err(&path))?;
        let tpl = template_messages(session, domains)?;
        file.write_all(&tpl).map_err(io_err(&path))?;
        self.cfg
            .pending
            .fetch_add(tpl.len() as u64, Ordering::Relaxed);
        self.files_written += 1;
        self.open = Some(OpenFile {
            path,
            lock,
            file,
            bytes: tpl.len() as u64,
            opened: Instant::now(),
        });
        Ok(())
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        if let Err(e) = self.finish() {
            tracing::error!(error = %e, "closing journal file");
        }
    }
}

/// Template (and options template) sets re-creating `session`'s templates for `domains`, as
/// IPFIX messages of at most [`MAX_TEMPLATE_MESSAGE`] bytes.
pub fn template_messages(
    session: &Session,
    domains: &BTreeSet<u32>,
) -> Result<Vec<u8>, JournalError> {
    let export_time = u32::try_from(time::OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(0);
    let mut out = Vec::new();
    for &d in domains {
        let all = session.templates().domain_templates(d);
        let mut pending: Vec<TemplateRecord> = Vec::new();
        let mut pending_opts: Vec<TemplateRecord> = Vec::new();
        let mut size = HEADER_LEN + 8;
        let flush = |out: &mut Vec<u8>,
                     t: &mut Vec<TemplateRecord>,
                     o: &mut Vec<TemplateRecord>|
         -> Result<(), JournalError> {
            if t.is_empty() && o.is_empty() {
                return Ok(());
            }
            let mut sets = Vec::new();
            if !t.is_empty() {
                sets.push(Set {
                    id: TEMPLATE_SET_ID,
                    offset: 0,
                    content: SetContent::Templates(std::mem::take(t)),
                    padding: Default::default(),
                });
            }
            if !o.is_empty() {
                sets.push(Set {
                    id: OPTIONS_TEMPLATE_SET_ID,
                    offset: 0,
                    content: SetContent::OptionsTemplates(std::mem::take(o)),
                    padding: Default::default(),
                });
            }
            let msg = Message {
                header: MessageHeader {
                    version: VERSION,
                    length: 0,
                    export_time,
                    sequence_number: 0,
                    domain_id: d,
                },
                offset: 0,
                sets,
                warnings: Vec::new(),
            };
            msg.encode(out)?;
            Ok(())
        };
        for t in all {
            let len = t.wire_len();
            if size + len > MAX_TEMPLATE_MESSAGE {
                flush(&mut out, &mut pending, &mut pending_opts)?;
                size = HEADER_LEN + 8;
            }
            size += len;
            if t.is_options() {
                pending_opts.push(TemplateRecord::Define(t));
            } else {
                pending.push(TemplateRecord::Define(t));
            }
        }
        flush(&mut out, &mut pending, &mut pending_opts)?;
    }
    Ok(out)
}

/// Best effort: a directory fsync makes creates/renames/unlinks durable on a machine crash.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Held for the life of the process: only one mediator journals into (and recovers) a spool
/// directory.
pub struct DirLock {
    _lock: nix::fcntl::Flock<File>,
}

pub fn lock_dir(dir: &Path) -> Result<DirLock, JournalError> {
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let p = dir.join(DIR_LOCK);
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&p)
        .map_err(io_err(&p))?;
    match nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(l) => Ok(DirLock { _lock: l }),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(JournalError::Busy(dir.to_path_buf())),
        Err((_, e)) => Err(JournalError::Io {
            path: p,
            source: io::Error::from(e),
        }),
    }
}

/// What [`recover`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Journal files whose lock was stale and removed.
    pub files: u64,
    /// Bytes cut from their ends (a partial message written when the process died).
    pub truncated_bytes: u64,
}

/// Hands over the journal files a dead mediator left locked: each is cut after its last
/// complete message, fsynced, and unlocked. Call only while holding [`lock_dir`]. Locks of
/// other writers (YAF, flowmeter) are not ours and are left alone.
pub fn recover(dir: &Path) -> Result<Recovery, JournalError> {
    let mut r = Recovery::default();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(data_name) = name.strip_suffix(".lock") else {
            continue;
        };
        if !data_name.starts_with(JOURNAL_PREFIX) || !data_name.ends_with(JOURNAL_EXT) {
            continue;
        }
        let data = dir.join(data_name);
        let lock = dir.join(&name);
        if data.exists() {
            let good = complete_prefix_len(&data)?;
            let size = fs::metadata(&data).map_err(io_err(&data))?.len();
            if good < size {
                let f = OpenOptions::new()
                    .write(true)
                    .open(&data)
                    .map_err(io_err(&data))?;
                f.set_len(good).map_err(io_err(&data))?;
                f.sync_all().map_err(io_err(&data))?;
                r.truncated_bytes += size - good;
                tracing::warn!(file = %data.display(), kept = good, cut = size - good,
                    "recovered journal: cut a partial message at its end");
            } else if let Ok(f) = File::open(&data) {
                let _ = f.sync_all();
            }
            r.files += 1;
        }
        fs::remove_file(&lock).map_err(io_err(&lock))?;
    }
    sync_dir(dir);
    Ok(r)
}

/// Bytes of `path` made of complete messages (framing only: journals hold only messages that
/// decoded when they were received).
fn complete_prefix_len(path: &Path) -> Result<u64, JournalError> {
    let f = File::open(path).map_err(io_err(path))?;
    let mut rd = FileReader::new(io::BufReader::new(f));
    loop {
        match rd.next_raw() {
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return Ok(rd.offset()),
        }
    }
}

/// Is `name` a journal file written by a mediator; if so, the peer label (`tcp-IP_PORT`).
pub fn journal_peer(name: &str) -> Option<&str> {
    let rest = name
        .strip_prefix(JOURNAL_PREFIX)?
        .strip_suffix(JOURNAL_EXT)?;
    // stamp-serial-pid-label
    let mut it = rest.splitn(4, '-');
    it.next()?;
    it.next()?;
    it.next()?;
    it.next()
}

/// The sensor a journal file came from: the peer's IP address (ports change per connection).
pub fn journal_sensor(name: &str) -> Option<String> {
    let label = journal_peer(name)?;
    let (_proto, peer) = label.split_once('-')?;
    let (ip, _port) = peer.rsplit_once('_')?;
    Some(ip.replace('-', ":"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_name_parse() {
        assert_eq!(
            journal_peer("mediator-20261127043712-00000001-4242-tcp-192.0.2.1_4739.ipfix"),
            Some("tcp-192.0.2.1_4739")
        );
        assert_eq!(journal_peer("yaf-20261127043712-00001.yaf"), None);
        assert_eq!(
            journal_sensor("mediator-20261127043712-00000001-4242-tcp-2001-db8--1_4739.ipfix"),
            Some("2001:db8::1".to_string())
        );
        assert_eq!(
            journal_sensor("mediator-20261127043712-00000001-4242-udp-192.0.2.1_9995.ipfix"),
            Some("192.0.2.1".to_string())
        );
    }
}
