//! Decoded chunks -> the store, with back-pressure and the shutdown rule "finish the batch in
//! flight".
//!
//! Shape (vector's file source, simplified): a blocking decoder thread per file sends chunks
//! into a bounded channel of [`CHANNEL_DEPTH`]; the async side commits up to
//! `Store::parallel_commits` of them at once (each its own transaction with its ledger row),
//! and only when every chunk of the file is committed (or was already in the ledger) does the
//! caller delete/archive the file. While the database is slow or down, the channel is full and
//! the decoder waits, so memory stays at about `CHANNEL_DEPTH + parallel_commits` chunks per
//! ingester, plus the write-behind aggregate keys the store holds (at most
//! `--write-behind-keys`, applied by [`flush`] at the end of each file).
//! Network sessions never wait for the database: they write the journal (see `journal.rs`),
//! and only the spool's size limit (`--spool-max-bytes`) makes them stop reading sockets.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::metrics;
use crate::store::{Batch, CommitOutcome, RetryPolicy, Store, StoreError};

/// Chunks decoded ahead of the one being committed.
pub const CHANNEL_DEPTH: usize = 1;

/// How long a commit already in flight may still take after shutdown was requested. The
/// batch stays in its file either way; the ledger makes the next run's attempt safe.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("shut down before the batch was committed")]
    Interrupted,
}

/// Applies the write-behind aggregates of the batches committed so far (`Store::flush_aggregates`),
/// retrying like [`commit`]; the file loader calls it once every chunk of a file is committed,
/// before the file is deleted or archived.
pub async fn flush(store: &Store, cancel: &CancellationToken) -> Result<(), CommitError> {
    let policy = RetryPolicy::default();
    let r = with_grace(store.flush_aggregates_with_retry(&policy), cancel).await?;
    match r {
        Ok(retries) => {
            metrics::get().batch_retries.inc_by(u64::from(retries));
            Ok(())
        }
        Err(e) => {
            metrics::get().db_errors.inc();
            Err(e.into())
        }
    }
}

/// Commits `batch`, retrying transient errors forever (losing nothing beats finishing), and
/// giving up only on shutdown: immediately when the database is unreachable and nothing is in
/// flight, or after [`SHUTDOWN_GRACE`].
pub async fn commit(
    store: &Store,
    batch: &Batch,
    cancel: &CancellationToken,
) -> Result<CommitOutcome, CommitError> {
    let policy = RetryPolicy::default();
    let started = std::time::Instant::now();
    let r = with_grace(store.commit_batch_with_retry(batch, &policy), cancel).await?;
    let m = metrics::get();
    match r {
        Ok(c) => {
            m.batch_seconds.observe(started.elapsed().as_secs_f64());
            m.batch_retries.inc_by(u64::from(c.retries));
            Ok(c.outcome)
        }
        Err(e) => {
            m.db_errors.inc();
            Err(e.into())
        }
    }
}

/// Runs `fut` to its end, or, once shutdown is requested, for at most [`SHUTDOWN_GRACE`] more.
async fn with_grace<T>(
    fut: impl std::future::Future<Output = T>,
    cancel: &CancellationToken,
) -> Result<T, CommitError> {
    tokio::pin!(fut);
    tokio::select! {
        r = &mut fut => Ok(r),
        _ = cancel.cancelled() => tokio::time::timeout(SHUTDOWN_GRACE, fut)
            .await
            .map_err(|_| CommitError::Interrupted),
    }
}
