//! Loading one IPFIX file (RFC 5655 layout: concatenated messages, one template session) into
//! the store, chunk by chunk, each chunk keyed `(content key, chunk index)` in the ledger.
//!
//! Used by `--in-file` (the file is never touched) and by the spool ingester (which decides
//! what happens to the file from the returned [`FileLoad`]).

use std::path::{Path, PathBuf};

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio_util::sync::CancellationToken;

use crate::ingest::map::MapStats;
use crate::ingest::{self, Chunk};
use crate::metrics;
use crate::pipeline::{self, CommitError, CHANNEL_DEPTH};
use crate::store::{BatchSource, CommitOutcome, Store, StoreError};

/// What loading a file did.
#[derive(Debug, Default)]
pub struct FileLoad {
    pub path: PathBuf,
    pub key: String,
    pub size: u64,
    pub messages: u64,
    pub chunks: u64,
    /// Chunks this run wrote.
    pub chunks_loaded: u64,
    /// Chunks the ledger already had (an earlier run loaded them).
    pub chunks_already_loaded: u64,
    /// Rows this run wrote.
    pub flows_loaded: u64,
    pub dns_loaded: u64,
    /// Mapping counters over the whole file (including chunks already loaded).
    pub stats: MapStats,
    pub undecoded_sets: u64,
    /// Set when the file is not valid IPFIX from some point on; every complete message before
    /// `error_offset` (the start of the first bad or incomplete message) was loaded.
    pub error: Option<String>,
    pub error_offset: Option<u64>,
    /// Offset after the last complete message.
    pub good_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Store {
        path: PathBuf,
        #[source]
        source: StoreError,
    },
    #[error(
        "{0}: interrupted by shutdown (the file stays; already committed chunks are in the ledger)"
    )]
    Interrupted(PathBuf),
}

/// Loads `path` into `store`. `sensor` goes into every flow row.
pub async fn load_file(
    path: &Path,
    sensor: &str,
    store: &Store,
    cancel: &CancellationToken,
) -> Result<FileLoad, LoadError> {
    let p = path.to_path_buf();
    let io = |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let (key, size) = tokio::task::spawn_blocking(move || ingest::content_key(&p))
        .await
        .map_err(|e| io(std::io::Error::other(e)))?
        .map_err(io)?;
    let source = BatchSource {
        key: key.clone(),
        label: path.display().to_string(),
    };
    let mut load = FileLoad {
        path: path.to_path_buf(),
        key,
        size,
        ..Default::default()
    };

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Chunk>(CHANNEL_DEPTH);
    let p = path.to_path_buf();
    let sensor = sensor.to_string();
    let decoder = tokio::task::spawn_blocking(move || {
        let mut dec = ingest::open_file(&p, &sensor)?;
        while let Some(chunk) = dec.next_chunk() {
            if tx.blocking_send(chunk).is_err() {
                break; // the committer stopped (shutdown or store error)
            }
        }
        Ok::<_, std::io::Error>((
            dec.messages(),
            dec.stats().clone(),
            dec.undecoded_sets(),
            dec.error().map(|e| (e.to_string(), e.offset())),
            dec.offset(),
        ))
    });

    // Up to `parallel` chunks are in their commit at once; the file is finished only when
    // every one of them has returned. After a failure no new chunk starts, but those in
    // flight run to their end (each is all-or-nothing with its ledger row either way).
    let parallel = store.parallel_commits().max(1);
    let mut inflight = FuturesUnordered::new();
    let mut failure = None;
    let mut more = true;
    loop {
        tokio::select! {
            // Finishing commits first keeps at most `parallel` batches in memory here.
            biased;
            Some((flows, dns, r)) = inflight.next(), if !inflight.is_empty() => {
                match r {
                    Ok(CommitOutcome::Loaded { .. }) => {
                        load.chunks_loaded += 1;
                        load.flows_loaded += flows;
                        load.dns_loaded += dns;
                        let m = metrics::get();
                        m.chunks_committed.inc();
                        m.flows_loaded.inc_by(flows);
                        m.dns_rows_loaded.inc_by(dns);
                    }
                    Ok(CommitOutcome::AlreadyLoaded) => {
                        load.chunks_already_loaded += 1;
                        metrics::get().chunks_already_loaded.inc();
                    }
                    Err(CommitError::Interrupted) => {
                        failure.get_or_insert(LoadError::Interrupted(path.to_path_buf()));
                    }
                    Err(CommitError::Store(source)) => {
                        failure.get_or_insert(LoadError::Store {
                            path: path.to_path_buf(),
                            source,
                        });
                    }
                }
            }
            chunk = rx.recv(), if more && failure.is_none() && inflight.len() < parallel => {
                let Some(chunk) = chunk else {
                    more = false;
                    continue;
                };
                if cancel.is_cancelled() {
                    failure = Some(LoadError::Interrupted(path.to_path_buf()));
                    continue;
                }
                load.chunks += 1;
                let flows = chunk.flows.len() as u64;
                let batch = chunk.into_batch(&source);
                let dns = batch.dns_row_count() as u64;
                inflight.push(async move {
                    let r = pipeline::commit(store, &batch, cancel).await;
                    (flows, dns, r)
                });
            }
            else => break,
        }
    }
    drop(rx);
    let decoded = decoder.await.map_err(|e| io(std::io::Error::other(e)))?;
    if let Some(f) = failure {
        return Err(f);
    }
    // The file's aggregates are applied before it counts as loaded (and is deleted or
    // archived): at most one file's worth stays in pdns_pending, and a stop here leaves it
    // there for the next start, which applies it (the chunks are in the ledger either way).
    match pipeline::flush(store, cancel).await {
        Ok(()) => {}
        Err(CommitError::Interrupted) => return Err(LoadError::Interrupted(path.to_path_buf())),
        Err(CommitError::Store(source)) => {
            return Err(LoadError::Store {
                path: path.to_path_buf(),
                source,
            })
        }
    }
    let (messages, stats, undecoded, error, good) = decoded.map_err(io)?;
    load.messages = messages;
    load.stats = stats;
    load.undecoded_sets = undecoded;
    load.good_bytes = good;
    let m = metrics::get();
    m.non_flow_records.inc_by(load.stats.non_flow_records);
    if error.is_some() {
        m.files_failed.inc();
    } else {
        m.files_loaded.inc();
    }
    if let Some((e, _exact)) = error {
        // The message that failed starts where the complete ones end; the error text has the
        // exact byte inside it.
        load.error = Some(e);
        load.error_offset = Some(good);
    }
    Ok(load)
}
