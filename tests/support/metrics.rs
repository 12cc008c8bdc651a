//! Prometheus endpoints of the running binaries.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

/// `GET /metrics` from `addr`: sample (name with labels, exactly as exposed) -> value.
pub fn scrape(addr: SocketAddr) -> BTreeMap<String, f64> {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    stream.read_to_string(&mut resp).unwrap();
    assert!(
        resp.starts_with("HTTP/1.1 200"),
        "metrics scrape of {addr}: {resp}"
    );
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let mut out = BTreeMap::new();
    for line in body.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if let Some((k, v)) = line.rsplit_once(' ') {
            if let Ok(v) = v.parse::<f64>() {
                out.insert(k.to_string(), v);
            }
        }
    }
    out
}

/// The value of `series` in a scrape; panics listing the scrape when it is missing.
pub fn metric(scrape: &BTreeMap<String, f64>, series: &str) -> f64 {
    *scrape
        .get(series)
        .unwrap_or_else(|| panic!("{series} missing from the scrape: {scrape:#?}"))
}
