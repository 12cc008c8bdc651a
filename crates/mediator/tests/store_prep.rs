//! The per-batch pre-aggregation (`prep::prepare`), by hand: which keys, with which totals and
//! byte forms, before anything reaches a database.

mod common;

use common::data::{batch, dns_flow, ip, A, CNAME};
use mediator::store::prep::{name_hash, prepare, rr_hash};

#[test]
fn prepare_aggregates_per_key() {
    let resolver = ip("192.0.2.53");
    let flow = |client: &str, start_ms: i64| {
        let mut f = dns_flow(
            ip(client),
            resolver,
            start_ms,
            "WWW.Example.com",
            &[
                (CNAME, 300, "www.example.com.", "cdn.example.net."),
                (A, 60, "cdn.example.net.", "198.51.100.7"),
            ],
        );
        f.end_ms = start_ms + 5;
        f
    };
    let b = batch(
        "k",
        0,
        vec![
            flow("10.0.0.1", 1_000),
            flow("10.0.0.1", 2_000),
            // The IPv4-mapped IPv6 form is another client (16 bytes, not 4).
            flow("::ffff:10.0.0.1", 3_000),
        ],
    );
    let p = prepare(&b).unwrap();
    assert_eq!((p.flows, p.dns_rows), (3, 9));
    // Two answer keys, each seen in three flows.
    assert_eq!(p.rr.len(), 2);
    let a = p.rr.iter().find(|a| a.rrtype == 1).unwrap();
    assert_eq!(
        (a.rrname.as_str(), a.rrname_rev.as_str(), a.rrval.as_str()),
        ("cdn.example.net.", "net.example.cdn.", "198.51.100.7")
    );
    assert_eq!((a.first_ms, a.last_ms, a.count), (1_000, 3_005, 3));
    assert_eq!(a.hash, rr_hash("cdn.example.net.", 1, "198.51.100.7"));
    // Per client, each name once per flow: the question and the CNAME answer share a name.
    assert_eq!(p.clients.len(), 4);
    let www = name_hash("www.example.com.");
    let of = |client: &[u8]| {
        p.clients
            .iter()
            .find(|c| c.name_hash == www && c.client == client)
            .map(|c| (c.rrname.as_str(), c.first_ms, c.last_ms, c.count))
    };
    assert_eq!(
        of(&[10, 0, 0, 1]),
        Some(("www.example.com.", 1_000, 2_005, 2))
    );
    let mapped: std::net::Ipv6Addr = "::ffff:10.0.0.1".parse().unwrap();
    assert_eq!(
        of(&mapped.octets()),
        Some(("www.example.com.", 3_000, 3_005, 1))
    );
    // Sorted by key, so concurrent loaders lock in the same order.
    assert!(p
        .clients
        .windows(2)
        .all(|w| (w[0].name_hash, &w[0].client) < (w[1].name_hash, &w[1].client)));
    assert_eq!(p.resolvers.len(), 2);
    // Byte order: the 16-byte form (leading zeros) sorts first.
    assert_eq!(p.resolvers[0].client, mapped.octets().to_vec());
    assert_eq!(p.resolvers[1].client, vec![10, 0, 0, 1]);
    assert_eq!(p.resolvers[1].resolver, vec![192, 0, 2, 53]);
    assert_eq!((p.resolvers[1].port, p.resolvers[1].count), (53, 2));
    assert_eq!(p.resolvers[0].count, 1);
}
