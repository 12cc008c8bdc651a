//! Prometheus metrics (`--metrics-addr`): sessions, messages, journal, spool depth, rows
//! loaded, batch latency, retries, errors. A process-wide registry: the counters are touched
//! from sessions, ingesters and the committer, and threading a handle through every one of
//! them would add nothing but noise.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

pub struct Metrics {
    pub tcp_sessions: Counter,
    pub tcp_sessions_active: Gauge,
    pub messages: Family<Labels, Counter>,
    pub bytes_journaled: Counter,
    pub session_errors: Family<Labels, Counter>,
    pub udp_dropped: Counter,
    pub spool_pending_bytes: Gauge,
    pub files_loaded: Counter,
    pub files_failed: Counter,
    pub flows_loaded: Counter,
    pub dns_rows_loaded: Counter,
    pub non_flow_records: Counter,
    pub chunks_committed: Counter,
    pub chunks_already_loaded: Counter,
    pub batch_seconds: Histogram,
    pub batch_retries: Counter,
    pub db_errors: Counter,
    registry: Mutex<Registry>,
    pending: OnceLock<Arc<AtomicU64>>,
}

impl Metrics {
    fn new() -> Self {
        let m = Metrics {
            tcp_sessions: Counter::default(),
            tcp_sessions_active: Gauge::default(),
            messages: Family::default(),
            bytes_journaled: Counter::default(),
            session_errors: Family::default(),
            udp_dropped: Counter::default(),
            spool_pending_bytes: Gauge::default(),
            files_loaded: Counter::default(),
            files_failed: Counter::default(),
            flows_loaded: Counter::default(),
            dns_rows_loaded: Counter::default(),
            non_flow_records: Counter::default(),
            chunks_committed: Counter::default(),
            chunks_already_loaded: Counter::default(),
            // 1 ms .. ~65 s.
            batch_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 17)),
            batch_retries: Counter::default(),
            db_errors: Counter::default(),
            registry: Mutex::new(Registry::with_prefix("mediator")),
            pending: OnceLock::new(),
        };
        if let Ok(mut r) = m.registry.lock() {
            r.register(
                "tcp_sessions",
                "TCP sessions accepted",
                m.tcp_sessions.clone(),
            );
            r.register(
                "tcp_sessions_active",
                "TCP sessions open",
                m.tcp_sessions_active.clone(),
            );
            r.register(
                "messages",
                "IPFIX messages received and journaled, by protocol",
                m.messages.clone(),
            );
            r.register(
                "bytes_journaled",
                "Bytes written to journal files",
                m.bytes_journaled.clone(),
            );
            r.register(
                "session_errors",
                "Sessions ended by an error, by kind",
                m.session_errors.clone(),
            );
            r.register(
                "udp_dropped",
                "UDP messages dropped as invalid",
                m.udp_dropped.clone(),
            );
            r.register(
                "spool_pending_bytes",
                "Journal bytes waiting to be loaded",
                m.spool_pending_bytes.clone(),
            );
            r.register(
                "files_loaded",
                "Files loaded completely",
                m.files_loaded.clone(),
            );
            r.register(
                "files_failed",
                "Files set aside as invalid",
                m.files_failed.clone(),
            );
            r.register("flows_loaded", "Flow rows written", m.flows_loaded.clone());
            r.register(
                "dns_rows_loaded",
                "DNS rows written",
                m.dns_rows_loaded.clone(),
            );
            r.register(
                "non_flow_records",
                "Top-level records that are not flows (options...)",
                m.non_flow_records.clone(),
            );
            r.register(
                "chunks_committed",
                "Batches committed",
                m.chunks_committed.clone(),
            );
            r.register(
                "chunks_already_loaded",
                "Batches skipped because the ledger had them",
                m.chunks_already_loaded.clone(),
            );
            r.register(
                "batch_commit_seconds",
                "Time to commit one batch, retries included",
                m.batch_seconds.clone(),
            );
            r.register(
                "batch_retries",
                "Batch commit retries after transient database errors",
                m.batch_retries.clone(),
            );
            r.register(
                "db_errors",
                "Database errors retrying cannot fix",
                m.db_errors.clone(),
            );
        }
        m
    }

    /// Lets scrapes report the spool depth the listeners and ingester maintain.
    pub fn track_pending(&self, pending: Arc<AtomicU64>) {
        let _ = self.pending.set(pending);
    }

    pub fn message(&self, proto: &str) {
        self.messages
            .get_or_create(&vec![("proto".to_string(), proto.to_string())])
            .inc();
    }

    pub fn session_error(&self, kind: &str) {
        self.session_errors
            .get_or_create(&vec![("kind".to_string(), kind.to_string())])
            .inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        if let Some(p) = self.pending.get() {
            self.spool_pending_bytes
                .set(i64::try_from(p.load(Ordering::Relaxed)).unwrap_or(i64::MAX));
        }
        let mut out = String::new();
        if let Ok(r) = self.registry.lock() {
            let _ = encode(&mut out, &r);
        }
        out
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

pub fn get() -> &'static Metrics {
    &METRICS
}

/// Serves `GET /metrics` until `cancel`.
pub async fn serve(listener: tokio::net::TcpListener, cancel: tokio_util::sync::CancellationToken) {
    use axum::routing::get as route_get;
    let app = axum::Router::new().route(
        "/metrics",
        route_get(|| async {
            (
                [(
                    axum::http::header::CONTENT_TYPE,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                )],
                get().render(),
            )
        }),
    );
    let r = axum::serve(listener, app)
        .with_graceful_shutdown(async move { cancel.cancelled().await })
        .await;
    if let Err(e) = r {
        tracing::error!(error = %e, "metrics endpoint failed");
    }
}
