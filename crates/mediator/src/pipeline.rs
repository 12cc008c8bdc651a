//! Decoded chunks -> the store, with back-pressure and the shutdown rule "finish the batch in
//! flight".
//!
//! Shape (vector's file source, simplified): a blocking decoder thread per file sends chunks
//! into a bounded channel of [`CHANNEL_DEPTH`]; the async side commits up to
//! `Store::parallel_commits` of them at once (each its own transaction with its ledger row),
//! and only when every chunk of the file is committed (or was already in the ledger) does the
//! caller delete/archive the file. While the database is slow or down, the channel is full and
//! the decoder waits, so memory stays at about `CHANNEL_DEPTH + parallel_commits` chunks per
//! ingester.
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
    let fut = store.commit_batch_with_retry(batch, &policy);
    tokio::pin!(fut);
    let r = tokio::select! {
        r = &mut fut => r,
        _ = cancel.cancelled() => match tokio::time::timeout(SHUTDOWN_GRACE, fut).await {
            Ok(r) => r,
            Err(_) => return Err(CommitError::Interrupted),
        },
    };
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
