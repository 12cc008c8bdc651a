//! Prometheus metrics (`--metrics-listen`): the same crates and exposition format as the
//! mediator's endpoint (prometheus-client text, axum), so both daemons scrape alike.
//!
//! The packet path is synchronous and single-threaded; it publishes its counters into a
//! [`Published`] (see the pipeline) and this module renders them on each scrape. Rendering
//! builds a fresh registry from one snapshot: scrapes are rare, and every value of a scrape
//! then comes from the same moment.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use flowmeter::flow::end_reason;
use flowmeter::pipeline::{Published, Snapshot};

type Labels = Vec<(String, String)>;

fn counter(r: &mut Registry, name: &str, help: &str, v: u64) {
    let c: Counter = Counter::default();
    c.inc_by(v);
    r.register(name, help, c);
}

fn gauge(r: &mut Registry, name: &str, help: &str, v: u64) {
    let g: Gauge = Gauge::default();
    g.set(i64::try_from(v).unwrap_or(i64::MAX));
    r.register(name, help, g);
}

fn labelled(r: &mut Registry, name: &str, help: &str, label: &str, values: &[(&str, u64)]) {
    let f: Family<Labels, Counter> = Family::default();
    for (k, v) in values {
        f.get_or_create(&vec![(label.to_string(), (*k).to_string())])
            .inc_by(*v);
    }
    r.register(name, help, f);
}

/// The text exposition of `s`. `live`: the capture-drop counters mean something.
pub fn render(s: &Snapshot, live: bool) -> String {
    let mut r = Registry::with_prefix("flowmeter");
    let m = &s.meter;
    counter(&mut r, "packets", "Packets read and processed", m.packets);
    counter(
        &mut r,
        "packets_received",
        "Packets the capture sources delivered",
        s.capture.received,
    );
    counter(
        &mut r,
        "packets_ignored",
        "Packets read but not usable (not IP, malformed, fragments held)",
        m.ignored,
    );
    if live {
        counter(
            &mut r,
            "packets_dropped",
            "Packets the kernel or capture buffer dropped",
            s.capture.dropped,
        );
        counter(
            &mut r,
            "packets_if_dropped",
            "Packets the interface driver dropped",
            s.capture.if_dropped,
        );
    }
    counter(
        &mut r,
        "bytes",
        "Captured bytes read (link layer included)",
        s.bytes,
    );
    counter(
        &mut r,
        "flows_created",
        "Flows started in the flow table",
        s.flows_created,
    );
    counter(
        &mut r,
        "flows_exported",
        "Flow records handed to the exporter",
        m.flows_exported,
    );
    gauge(
        &mut r,
        "flows_active",
        "Flows in the table now",
        m.active_flows,
    );
    gauge(
        &mut r,
        "flows_peak",
        "Most flows held at once",
        m.peak_flows,
    );
    let reason = |i: u8| s.by_reason[usize::from(i)];
    labelled(
        &mut r,
        "flows_ended",
        "Exported flows by flowEndReason",
        "reason",
        &[
            ("idle", reason(end_reason::IDLE)),
            ("active", reason(end_reason::ACTIVE)),
            ("end", reason(end_reason::END)),
            ("forced", reason(end_reason::FORCED)),
            ("resource", reason(end_reason::RESOURCE)),
        ],
    );
    counter(
        &mut r,
        "fragments_assembled",
        "IP datagrams reassembled from fragments",
        m.assembled_fragments,
    );
    counter(
        &mut r,
        "fragments_expired",
        "IP datagrams given up unfinished (timeout or memory cap)",
        m.expired_fragments,
    );
    let d = &s.dns;
    counter(&mut r, "dns_messages", "DNS messages decoded", d.messages);
    counter(
        &mut r,
        "dns_records",
        "DNS records kept for export",
        d.records,
    );
    counter(
        &mut r,
        "dns_records_dropped",
        "DNS records decoded but over the per-flow cap",
        d.records_dropped,
    );
    counter(
        &mut r,
        "dns_messages_capped",
        "DNS messages longer than --max-payload, decoded from their start only",
        d.messages_capped,
    );
    labelled(
        &mut r,
        "dns_parse_errors",
        "DNS decoding errors by kind",
        "kind",
        &[
            ("truncated", d.truncated),
            ("bad_pointer", d.bad_pointer),
            ("pointer_loop", d.pointer_loop),
            ("label_too_long", d.label_too_long),
            ("name_too_long", d.name_too_long),
            ("bad_count", d.bad_count),
            ("rdlength_overrun", d.rdlength_overrun),
            ("bad_rdata", d.bad_rdata),
            ("tcp_gap", d.tcp_gap),
            ("buffer_overflow", d.buffer_overflow),
            ("tcp_desync", d.tcp_desync),
        ],
    );
    if let Some(e) = &s.export {
        counter(
            &mut r,
            "export_messages",
            "IPFIX messages sent (templates included)",
            e.messages_sent,
        );
        if let Some(v) = e.bytes_sent {
            counter(
                &mut r,
                "export_bytes",
                "IPFIX octets written (files) or sent (TCP, UDP), templates included",
                v,
            );
        }
        if let Some(v) = e.spool_bytes {
            gauge(
                &mut r,
                "export_spool_bytes",
                "Bytes waiting in the export spool",
                v,
            );
        }
        if let Some(v) = e.spool_dropped_messages {
            counter(
                &mut r,
                "export_spool_dropped_messages",
                "IPFIX messages dropped because the spool was full",
                v,
            );
        }
        if let Some(v) = e.spool_dropped_records {
            counter(
                &mut r,
                "export_spool_dropped_records",
                "Flow records dropped because the spool was full",
                v,
            );
        }
        if let Some(v) = e.reconnects {
            counter(
                &mut r,
                "export_reconnects",
                "Connections to the collector after the first",
                v,
            );
        }
        if let Some(v) = e.connected {
            gauge(
                &mut r,
                "export_connected",
                "1 while connected to the collector",
                u64::from(v),
            );
        }
        if let Some(v) = e.send_errors {
            counter(&mut r, "export_send_errors", "IPFIX send errors", v);
        }
    }
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &r);
    out
}

/// Binds `addr` now (so a bad address fails the start-up) and serves `GET /metrics` from a
/// background thread for the life of the process. Returns the bound address.
pub fn spawn_server(
    addr: SocketAddr,
    published: Arc<Published>,
    live: bool,
) -> anyhow::Result<SocketAddr> {
    let std_listener = std::net::TcpListener::bind(addr)
        .with_context(|| format!("binding metrics endpoint {addr}"))?;
    std_listener
        .set_nonblocking(true)
        .context("metrics listener: non-blocking mode")?;
    let local = std_listener.local_addr().context("metrics listener")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .context("metrics endpoint runtime")?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            rt.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(std_listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!(error = %e, "metrics endpoint failed");
                        return;
                    }
                };
                let app = axum::Router::new().route(
                    "/metrics",
                    axum::routing::get(move || {
                        let p = Arc::clone(&published);
                        async move {
                            (
                                [(
                                    axum::http::header::CONTENT_TYPE,
                                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                                )],
                                render(&p.read(), live),
                            )
                        }
                    }),
                );
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::error!(error = %e, "metrics endpoint failed");
                }
            });
        })
        .context("starting metrics thread")?;
    tracing::info!(addr = %local, "serving Prometheus metrics at /metrics");
    Ok(local)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use flowmeter::flow::sink::ExportStats;

    fn value(text: &str, name: &str) -> Option<f64> {
        text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            (k == name).then(|| v.parse().unwrap())
        })
    }

    #[test]
    fn renders_counters_gauges_and_labels() {
        let mut s = Snapshot::default();
        s.meter.packets = 1234;
        s.meter.ignored = 7;
        s.meter.flows_exported = 40;
        s.meter.active_flows = 3;
        s.bytes = 99_000;
        s.flows_created = 43;
        s.by_reason[usize::from(end_reason::IDLE)] = 30;
        s.by_reason[usize::from(end_reason::FORCED)] = 10;
        s.dns.messages = 20;
        s.dns.records = 55;
        s.dns.pointer_loop = 2;
        s.capture.dropped = 5;
        let t = render(&s, true);
        assert_eq!(value(&t, "flowmeter_packets_total"), Some(1234.0));
        assert_eq!(value(&t, "flowmeter_packets_ignored_total"), Some(7.0));
        assert_eq!(value(&t, "flowmeter_packets_dropped_total"), Some(5.0));
        assert_eq!(value(&t, "flowmeter_bytes_total"), Some(99_000.0));
        assert_eq!(value(&t, "flowmeter_flows_created_total"), Some(43.0));
        assert_eq!(value(&t, "flowmeter_flows_exported_total"), Some(40.0));
        assert_eq!(value(&t, "flowmeter_flows_active"), Some(3.0));
        assert_eq!(
            value(&t, r#"flowmeter_flows_ended_total{reason="idle"}"#),
            Some(30.0)
        );
        assert_eq!(
            value(&t, r#"flowmeter_flows_ended_total{reason="forced"}"#),
            Some(10.0)
        );
        assert_eq!(
            value(&t, r#"flowmeter_flows_ended_total{reason="end"}"#),
            Some(0.0)
        );
        assert_eq!(value(&t, "flowmeter_dns_messages_total"), Some(20.0));
        assert_eq!(value(&t, "flowmeter_dns_records_total"), Some(55.0));
        assert_eq!(
            value(
                &t,
                r#"flowmeter_dns_parse_errors_total{kind="pointer_loop"}"#
            ),
            Some(2.0)
        );
        assert!(t.contains("# TYPE flowmeter_flows_active gauge"), "{t}");
        assert!(t.contains("# TYPE flowmeter_packets counter"), "{t}");
        // No exporter transport, no export metrics; files have no capture drops.
        assert_eq!(value(&t, "flowmeter_export_messages_total"), None);
        assert_eq!(
            value(&render(&s, false), "flowmeter_packets_dropped_total"),
            None
        );
    }

    #[test]
    fn renders_export_transport_only_where_known() {
        let s = Snapshot {
            export: Some(ExportStats {
                messages_sent: 12,
                spool_bytes: Some(4096),
                reconnects: Some(2),
                connected: Some(false),
                ..ExportStats::default()
            }),
            ..Snapshot::default()
        };
        let t = render(&s, false);
        assert_eq!(value(&t, "flowmeter_export_messages_total"), Some(12.0));
        assert_eq!(value(&t, "flowmeter_export_spool_bytes"), Some(4096.0));
        assert_eq!(value(&t, "flowmeter_export_reconnects_total"), Some(2.0));
        assert_eq!(value(&t, "flowmeter_export_connected"), Some(0.0));
        assert_eq!(value(&t, "flowmeter_export_bytes_total"), None);
        // Every exporter now counts its octets: files, TCP and UDP alike.
        let s = Snapshot {
            export: Some(ExportStats {
                messages_sent: 3,
                bytes_sent: Some(70_123),
                ..ExportStats::default()
            }),
            ..Snapshot::default()
        };
        let t = render(&s, false);
        assert_eq!(value(&t, "flowmeter_export_bytes_total"), Some(70_123.0));
        assert!(t.contains("# TYPE flowmeter_export_bytes counter"), "{t}");
    }

    #[test]
    fn serves_the_published_snapshot() {
        let p = Arc::new(Published::default());
        p.hot
            .packets
            .store(77, std::sync::atomic::Ordering::Relaxed);
        let addr = spawn_server("127.0.0.1:0".parse().unwrap(), Arc::clone(&p), false).unwrap();
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        write!(
            c,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut resp = String::new();
        c.read_to_string(&mut resp).unwrap();
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
        let body = resp.split("\r\n\r\n").nth(1).unwrap();
        assert_eq!(value(body, "flowmeter_packets_total"), Some(77.0));
    }
}
