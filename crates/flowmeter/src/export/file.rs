//! IPFIX files (RFC 5655): one file, stdout, or YAF's `--rotate` series, with YAF's `--lock`.
//!
//! - `--rotate N`: files `<out>-YYYYMMDDhhmmss-NNNNN.yaf`; the timestamp is the UTC wall clock
//!   when the file is opened, NNNNN a process-wide serial from 00000; a new file starts when
//!   flow-table (packet) time has advanced N seconds since the current one started.
//! - `--lock`: `F.lock` is created with O_EXCL *before* F is opened and removed *after* F is
//!   closed, so super_mediator and our mediator never read a file that is still being written.
//!   An existing lock is an error (another writer, or a stale lock an operator must remove).
//!
//! Each file is a session of its own: it starts with YAF's templates.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::config::ExportConfig;
use crate::flow::sink::ExportStats;
use crate::flow::{FlowRecord, FlowSink, MeterStats, SinkError};

use super::message::Finished;
use super::{Encoder, ExportCounters, ExportError, SinkOptions};

/// YAF's rotated-file serial: process-wide, so two sinks never produce the same name.
static SERIAL: AtomicU32 = AtomicU32::new(0);

/// `<prefix>-YYYYMMDDhhmmss-NNNNN.yaf` for UTC `unix_secs`.
pub fn rotated_name(prefix: &str, unix_secs: u64, serial: u32) -> String {
    let (y, mo, d, h, mi, s) = civil_utc(unix_secs);
    format!("{prefix}-{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}-{serial:05}.yaf")
}

/// UTC calendar fields of a UNIX time (H. Hinnant's days-from-civil inverse); hand-written
/// because the flowmeter crate does not otherwise need a date library.
fn civil_utc(secs: u64) -> (u64, u64, u64, u64, u64, u64) {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

fn lock_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

/// One open output file (or stdout) and its lock.
#[derive(Debug)]
struct Output {
    path: PathBuf,
    lock: Option<PathBuf>,
    w: BufWriter<Box<dyn WriteDebug>>,
}

trait WriteDebug: Write + std::fmt::Debug + Send {}
impl<T: Write + std::fmt::Debug + Send> WriteDebug for T {}

impl Output {
    fn open(path: PathBuf, lock: bool) -> Result<Self, ExportError> {
        if path.as_os_str() == "-" {
            return Ok(Self {
                path,
                lock: None,
                w: BufWriter::new(Box::new(std::io::stdout())),
            });
        }
        let lock = if lock {
            let lp = lock_path(&path);
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o664)
                .open(&lp)
            {
                Ok(_) => Some(lp),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    return Err(ExportError::Locked { path: lp });
                }
                Err(source) => {
                    return Err(ExportError::File {
                        what: "cannot create lock",
                        path: lp,
                        source,
                    })
                }
            }
        } else {
            None
        };
        match File::create(&path) {
            Ok(f) => Ok(Self {
                path,
                lock,
                w: BufWriter::with_capacity(1 << 16, Box::new(f)),
            }),
            Err(source) => {
                if let Some(lp) = &lock {
                    let _ = std::fs::remove_file(lp);
                }
                Err(ExportError::File {
                    what: "cannot create",
                    path,
                    source,
                })
            }
        }
    }

    fn write(&mut self, msgs: Vec<Finished>, totals: &mut Written) -> Result<(), ExportError> {
        for m in msgs {
            self.w
                .write_all(&m.bytes)
                .map_err(|source| ExportError::File {
                    what: "cannot write",
                    path: self.path.clone(),
                    source,
                })?;
            totals.messages += 1;
            totals.bytes += m.bytes.len() as u64;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ExportError> {
        self.w.flush().map_err(|source| ExportError::File {
            what: "cannot write",
            path: self.path.clone(),
            source,
        })
    }

    /// Flushes and closes the file, then removes its lock (in that order: a reader that sees
    /// no lock must see the complete file).
    fn close(mut self) -> Result<(), ExportError> {
        self.flush()?;
        let lock = self.lock.take();
        let path = self.path.clone();
        match self.w.into_inner() {
            Ok(f) => drop(f),
            Err(e) => {
                return Err(ExportError::File {
                    what: "cannot write",
                    path,
                    source: e.into_error(),
                })
            }
        }
        if let Some(lp) = lock {
            std::fs::remove_file(&lp).map_err(|source| ExportError::File {
                what: "cannot remove lock",
                path: lp,
                source,
            })?;
        }
        Ok(())
    }
}

/// What has been handed to the output files (all of them, with rotation): once the last
/// file is closed, `bytes` is the sum of their sizes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    pub messages: u64,
    pub bytes: u64,
}

/// Writes YAF IPFIX to files.
#[derive(Debug)]
pub struct FileSink {
    written: Written,
    pub(super) enc: Encoder,
    out: Option<Output>,
    prefix: String,
    rotate_ns: Option<u64>,
    lock: bool,
    /// Flow-table time at which the current rotated file started.
    file_epoch_ns: Option<u64>,
    stats_enabled: bool,
    tombstone: bool,
    /// Files closed so far (rotation), in order.
    closed: Vec<PathBuf>,
}

impl FileSink {
    pub fn open(cfg: &ExportConfig, opts: &SinkOptions) -> Result<Self, ExportError> {
        if cfg.out.is_empty() {
            return Err(ExportError::Config("--out is empty".into()));
        }
        let rotate_ns = match cfg.rotate_s {
            Some(0) => {
                return Err(ExportError::Config(
                    "--rotate must be at least 1 second".into(),
                ))
            }
            Some(s) => Some(s.saturating_mul(1_000_000_000)),
            None => None,
        };
        if rotate_ns.is_some() && cfg.out == "-" {
            return Err(ExportError::Config(
                "--rotate needs a file prefix, not stdout".into(),
            ));
        }
        let mut sink = Self {
            written: Written::default(),
            enc: Encoder::new(cfg, opts, super::LIBFIXBUF_MAX_MESSAGE, true)?,
            out: None,
            prefix: cfg.out.clone(),
            rotate_ns,
            lock: cfg.lock,
            file_epoch_ns: None,
            stats_enabled: cfg.stats,
            tombstone: opts.tombstone,
            closed: Vec::new(),
        };
        sink.open_next()?;
        Ok(sink)
    }

    /// Path of the file being written.
    pub fn current_path(&self) -> Option<&Path> {
        self.out.as_ref().map(|o| o.path.as_path())
    }

    /// Files already closed by rotation.
    pub fn closed_files(&self) -> &[PathBuf] {
        &self.closed
    }

    pub fn counters(&self) -> ExportCounters {
        self.enc.counters
    }

    /// Messages and octets written so far (buffered writes included).
    pub fn written(&self) -> Written {
        self.written
    }

    /// Transport counters in the form the metrics endpoint takes.
    pub fn export_stats(&self) -> ExportStats {
        ExportStats {
            messages_sent: self.written.messages,
            bytes_sent: Some(self.written.bytes),
            ..ExportStats::default()
        }
    }

    fn open_next(&mut self) -> Result<(), ExportError> {
        let path = if self.rotate_ns.is_some() {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let serial = SERIAL.fetch_add(1, Ordering::Relaxed);
            PathBuf::from(rotated_name(&self.prefix, now, serial))
        } else {
            PathBuf::from(&self.prefix)
        };
        self.out = Some(Output::open(path, self.lock)?);
        self.enc.new_session();
        self.enc.start();
        Ok(())
    }

    fn close_current(&mut self) -> Result<(), ExportError> {
        if self.tombstone {
            self.enc.push_tombstone();
        }
        let msgs = self.enc.finish();
        if let Some(mut out) = self.out.take() {
            out.write(msgs, &mut self.written)?;
            let path = out.path.clone();
            out.close()?;
            self.closed.push(path);
        }
        Ok(())
    }

    /// Starts a new file when flow-table time `now_ns` is an interval past the current one's.
    fn maybe_rotate(&mut self, now_ns: u64) -> Result<(), ExportError> {
        let Some(interval) = self.rotate_ns else {
            return Ok(());
        };
        match self.file_epoch_ns {
            None => self.file_epoch_ns = Some(now_ns),
            Some(epoch) if now_ns.saturating_sub(epoch) >= interval => {
                self.close_current()?;
                self.open_next()?;
                self.file_epoch_ns = Some(now_ns);
            }
            Some(_) => {}
        }
        Ok(())
    }

    fn drain(&mut self) -> Result<(), ExportError> {
        let msgs = self.enc.take();
        match self.out.as_mut() {
            Some(out) => out.write(msgs, &mut self.written),
            None => Ok(()),
        }
    }

    /// Writes what is buffered, the tombstone, closes the file and removes its lock; returns
    /// the final counters (`bytes_sent` = the size of everything written).
    pub fn close(mut self) -> Result<ExportStats, ExportError> {
        self.close_current()?;
        Ok(self.export_stats())
    }
}

impl FlowSink for FileSink {
    fn emit(&mut self, rec: FlowRecord) -> Result<(), SinkError> {
        self.maybe_rotate(rec.end_ns)?;
        self.enc.push_flow(&rec);
        self.drain()?;
        Ok(())
    }

    /// The DNS messages are decoded while the record is encoded (no [`crate::dpi::DnsRecord`]s).
    fn emit_ended(&mut self, f: crate::flow::EndedFlow) -> Result<(), SinkError> {
        self.maybe_rotate(f.rec.end_ns)?;
        self.enc.push_ended(f);
        self.drain()?;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        let msgs = self.enc.finish();
        if let Some(out) = self.out.as_mut() {
            out.write(msgs, &mut self.written)?;
            out.flush()?;
        }
        Ok(())
    }

    fn on_stats(&mut self, s: &MeterStats) -> Result<(), SinkError> {
        if s.last_packet_ns > 0 {
            self.maybe_rotate(s.last_packet_ns)?;
        }
        if self.stats_enabled {
            self.enc.push_stats(s);
            self.drain()?;
        }
        Ok(())
    }

    fn export_stats(&self) -> Option<ExportStats> {
        Some(FileSink::export_stats(self))
    }
}

impl Drop for FileSink {
    fn drop(&mut self) {
        if self.out.is_some() {
            if let Err(e) = self.close_current() {
                tracing::error!(error = %e, "closing IPFIX output failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_names_are_yafs() {
        // 2026-11-27 04:17:12 UTC
        assert_eq!(
            rotated_name("/data/yaf", 1_795_753_032, 0),
            "/data/yaf-20261127041712-00000.yaf"
        );
        assert_eq!(rotated_name("x", 0, 12), "x-19700101000000-00012.yaf");
        assert_eq!(
            rotated_name("x", 951_782_400, 99_999),
            "x-20000229000000-99999.yaf"
        );
    }
}
