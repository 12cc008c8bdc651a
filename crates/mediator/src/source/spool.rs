//! Spool directory ingester (`--in-dir`, and the journal directory of network input).
//!
//! Rules (YAF/super_mediator's airlock convention):
//! - skip `*.lock`, dot files, non-regular files, and any file with `<name>.lock` beside it;
//! - take finished files in name order (YAF, flowmeter and journal names start with their
//!   opening time, so this is arrival order);
//! - load a file completely (chunked, ledger-keyed by content) and only then delete it or move
//!   it to `--archive-dir`;
//! - a file that is not valid IPFIX from some offset on: every complete message before that
//!   offset is loaded (it is real data and the ledger keeps it single), then the file goes to
//!   the error directory with `<name>.reason` naming the offset; it is never deleted. A file
//!   truncated in the middle of its last message is handled the same way.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::file::{load_file, FileLoad, LoadError};
use crate::journal;
use crate::store::{Store, StoreError};

#[derive(Clone, Debug)]
pub struct SpoolConfig {
    pub dir: PathBuf,
    /// Where committed files go; `None`: deleted.
    pub archive_dir: Option<PathBuf>,
    /// Where undecodable files go (default `<dir>/error`).
    pub error_dir: PathBuf,
    pub poll_interval: Duration,
    /// Process what is there, then return.
    pub once: bool,
    /// Sensor name for files that are not mediator journals.
    pub sensor: String,
    /// Journal bytes awaiting ingestion (shared with network sessions for back-pressure).
    pub pending: Option<Arc<AtomicU64>>,
}

/// Totals of an ingester's run.
#[derive(Debug, Default, Clone)]
pub struct SpoolTotals {
    pub files_loaded: u64,
    pub files_failed: u64,
    pub flows_loaded: u64,
    pub dns_loaded: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Finished files of `dir`, in the order they are taken.
pub fn ready_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut names = Vec::new();
    let mut all = HashSet::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        all.insert(name.clone());
        if name.starts_with('.') || name.ends_with(".lock") || name.ends_with(".reason") {
            continue;
        }
        if entry.file_type()?.is_file() {
            names.push(name);
        }
    }
    names.retain(|n| !all.contains(&format!("{n}.lock")));
    names.sort();
    Ok(names.into_iter().map(|n| dir.join(n)).collect())
}

/// Runs the ingester until `cancel` (or one pass with `once`). A store error that retrying
/// cannot fix (bad schema, configuration) ends it with that error; the file stays.
pub async fn run(
    cfg: SpoolConfig,
    store: Store,
    cancel: CancellationToken,
) -> Result<SpoolTotals, SpoolError> {
    let mut totals = SpoolTotals::default();
    std::fs::create_dir_all(&cfg.dir).map_err(io_err(&cfg.dir))?;
    // Files that failed in a way that leaves them in place (no error dir possible): not
    // retried every poll.
    let mut skip: HashSet<PathBuf> = HashSet::new();
    loop {
        let files = ready_files(&cfg.dir).map_err(io_err(&cfg.dir))?;
        for path in files {
            if cancel.is_cancelled() {
                return Ok(totals);
            }
            if skip.contains(&path) {
                continue;
            }
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let sensor = journal::journal_sensor(&name).unwrap_or_else(|| cfg.sensor.clone());
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            match load_file(&path, &sensor, &store, &cancel).await {
                Ok(load) => {
                    totals.flows_loaded += load.flows_loaded;
                    totals.dns_loaded += load.dns_loaded;
                    if let Err(e) = dispose(&cfg, &load) {
                        tracing::error!(file = %path.display(), error = %e, "cannot move or delete a loaded file; leaving it (reloading it is a no-op)");
                        skip.insert(path.clone());
                    }
                    if load.error.is_some() {
                        totals.files_failed += 1;
                    } else {
                        totals.files_loaded += 1;
                    }
                    if journal::journal_peer(&name).is_some() {
                        if let Some(p) = &cfg.pending {
                            let _ = p.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                                Some(v.saturating_sub(size))
                            });
                        }
                    }
                }
                Err(LoadError::Interrupted(_)) => return Ok(totals),
                Err(LoadError::Store { source, path }) => {
                    if matches!(source, StoreError::InvalidBatch { .. }) {
                        // The data itself cannot be stored: set the file aside, carry on.
                        let reason = format!("the store rejected a batch: {source}\n");
                        if let Err(e) = to_error_dir(&cfg, &path, &reason) {
                            tracing::error!(file = %path.display(), error = %e, "cannot move a rejected file to the error directory");
                            skip.insert(path.clone());
                        }
                        totals.files_failed += 1;
                        crate::metrics::get().files_failed.inc();
                        continue;
                    }
                    tracing::error!(file = %path.display(), error = %source, "database error; stopping the ingester (the file stays)");
                    return Err(SpoolError::Store(source));
                }
                Err(LoadError::Io { path, source }) => {
                    // Vanished or unreadable: someone else's business; try again next pass
                    // only if it is still there.
                    tracing::warn!(file = %path.display(), error = %source, "cannot read spool file");
                    skip.insert(path);
                }
            }
        }
        if cfg.once {
            return Ok(totals);
        }
        // Re-measure what journals occupy: corrects the running count for files another
        // process took or an operator removed, so back-pressure can never stick.
        if let Some(p) = &cfg.pending {
            if let Ok(n) = journal_bytes(&cfg.dir) {
                p.store(n, Ordering::Relaxed);
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return Ok(totals),
            _ = tokio::time::sleep(cfg.poll_interval) => {}
        }
        skip.retain(|p| p.exists());
    }
}

/// Bytes of mediator journal files (finished or still written) in `dir`.
pub fn journal_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut n = 0;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if journal::journal_peer(&e.file_name().to_string_lossy()).is_some() {
            n += e.metadata().map(|m| m.len()).unwrap_or(0);
        }
    }
    Ok(n)
}

/// After a load: archive or delete a clean file; move a partly invalid one to the error dir.
fn dispose(cfg: &SpoolConfig, load: &FileLoad) -> Result<(), SpoolError> {
    if let Some(err) = &load.error {
        let reason = format!(
            "not valid IPFIX from byte offset {} (start of the first bad or incomplete message): {err}\nloaded: {} complete messages ({} bytes), {} chunks ({} new, {} already loaded), {} flows and {} DNS rows written by this run\ncontent key: {}\n",
            load.error_offset.unwrap_or(0),
            load.messages,
            load.good_bytes,
            load.chunks,
            load.chunks_loaded,
            load.chunks_already_loaded,
            load.flows_loaded,
            load.dns_loaded,
            load.key,
        );
        tracing::warn!(file = %load.path.display(), offset = load.error_offset.unwrap_or(0), error = %err,
            "invalid IPFIX; complete messages before it loaded, file moved to the error directory");
        return to_error_dir(cfg, &load.path, &reason);
    }
    tracing::info!(file = %load.path.display(), flows = load.flows_loaded, dns = load.dns_loaded,
        chunks = load.chunks, already_loaded = load.chunks_already_loaded,
        non_flow_records = load.stats.non_flow_records, undecoded_sets = load.undecoded_sets,
        "file loaded");
    if !load.stats.unmapped_elements.is_empty() {
        tracing::debug!(file = %load.path.display(), unmapped = ?load.stats.unmapped_elements, "elements without a column");
    }
    match &cfg.archive_dir {
        Some(a) => move_into(&load.path, a).map(|_| ()),
        None => {
            std::fs::remove_file(&load.path).map_err(io_err(&load.path))?;
            journal::sync_dir(&cfg.dir);
            Ok(())
        }
    }
}

fn to_error_dir(cfg: &SpoolConfig, path: &Path, reason: &str) -> Result<(), SpoolError> {
    let dest = move_into(path, &cfg.error_dir)?;
    let mut rpath = dest.clone().into_os_string();
    rpath.push(".reason");
    let rpath = PathBuf::from(rpath);
    let mut f = std::fs::File::create(&rpath).map_err(io_err(&rpath))?;
    f.write_all(reason.as_bytes()).map_err(io_err(&rpath))?;
    let _ = f.sync_all();
    Ok(())
}

/// Moves `path` into `dir` (created if missing) under its name, or `name.N` if taken; falls
/// back to copy + fsync + remove across file systems. Returns the new path.
fn move_into(path: &Path, dir: &Path) -> Result<PathBuf, SpoolError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    let mut dest = dir.join(&name);
    let mut n = 1u32;
    while dest.exists() {
        let mut s = name.clone();
        s.push(format!(".{n}"));
        dest = dir.join(s);
        n += 1;
    }
    if std::fs::rename(path, &dest).is_err() {
        std::fs::copy(path, &dest).map_err(io_err(&dest))?;
        if let Ok(f) = std::fs::File::open(&dest) {
            let _ = f.sync_all();
        }
        std::fs::remove_file(path).map_err(io_err(path))?;
    }
    journal::sync_dir(dir);
    if let Some(parent) = path.parent() {
        journal::sync_dir(parent);
    }
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_files_skip_locked() {
        let d = tempfile::tempdir().unwrap();
        for n in [
            "b.yaf",
            "a.yaf",
            "c.yaf",
            "c.yaf.lock",
            "orphan.lock",
            ".hidden",
            "x.reason",
        ] {
            std::fs::write(d.path().join(n), b"").unwrap();
        }
        std::fs::create_dir(d.path().join("sub")).unwrap();
        let got: Vec<_> = ready_files(d.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(got, vec!["a.yaf", "b.yaf"]);
    }
}
