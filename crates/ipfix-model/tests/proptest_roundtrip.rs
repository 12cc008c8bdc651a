//! Property tests: records built from random typed values survive export -> decode ->
//! re-encode unchanged (both varlen forms, reduced-size integers, nested lists, message
//! splitting), and random or mutated input never panics the decoder.

// Helpers and proptest! bodies are test code: a panic there is a failed case.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::Ipv4Addr;
use std::sync::Arc;

use ipfix_model::ie::ElementId;
use ipfix_model::record::semantic::ALL_OF;
use ipfix_model::{
    DataRecord, Exporter, FieldData, FieldSpec, FieldValue, RecordBuilder, Session, StmlEntry,
    SubTemplateList, SubTemplateMultiList, Template, Value, VarLen,
};
use proptest::prelude::*;

/// One flat field: which element, its template length, and a value for it.
#[derive(Debug, Clone)]
enum F {
    Uint(u8, u64),
    Ip(u32),
    Name(Vec<u8>, bool),
    Pad(u8),
}

fn field() -> impl Strategy<Value = F> {
    prop_oneof![
        (1u8..=8, any::<u64>()).prop_map(|(len, v)| {
            let v = if len == 8 {
                v
            } else {
                v & ((1u64 << (8 * len)) - 1)
            };
            F::Uint(len, v)
        }),
        any::<u32>().prop_map(F::Ip),
        (
            proptest::collection::vec(any::<u8>(), 0..300),
            any::<bool>()
        )
            .prop_map(|(b, l)| F::Name(b, l)),
        (0u8..8).prop_map(F::Pad),
    ]
}

fn spec(f: &F) -> FieldSpec {
    match f {
        F::Uint(len, _) => FieldSpec::new(ElementId::iana(85), u16::from(*len)),
        F::Ip(_) => FieldSpec::new(ElementId::iana(8), 4),
        F::Name(..) => FieldSpec::varlen(ElementId::cert(179)),
        F::Pad(n) => FieldSpec::new(ElementId::iana(210), u16::from(*n)),
    }
}

fn push(b: &mut RecordBuilder<'static>, f: &F) {
    match f {
        F::Uint(_, v) => {
            b.push(*v).unwrap();
        }
        F::Ip(a) => {
            b.push(Ipv4Addr::from(*a)).unwrap();
        }
        F::Name(n, long) => {
            // Long form even for short values: a decoded record must keep the form it had.
            let varlen = if *long || n.len() >= 255 {
                VarLen::Long
            } else {
                VarLen::Short
            };
            b.push_value(FieldValue {
                varlen: Some(varlen),
                data: FieldData::Raw(n.clone().into()),
            })
            .unwrap();
        }
        F::Pad(_) => {
            b.push(Value::Padding).unwrap();
        }
    }
}

fn roundtrip(templates: &[Arc<Template>], records: &[DataRecord<'static>], max: usize) {
    let mut ex = Exporter::new(42, max);
    ex.set_export_time(1_700_000_000);
    for t in templates {
        ex.add_template(Arc::clone(t)).unwrap();
    }
    for r in records {
        ex.add_record(r).unwrap();
    }
    ex.flush();
    let mut s = Session::new();
    let mut got = Vec::new();
    while let Some(bytes) = ex.take_message() {
        assert!(bytes.len() <= max);
        let m = s.decode(&bytes, 0).unwrap();
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
        assert_eq!(m.to_bytes().unwrap(), bytes);
        got.extend(m.data_records().cloned().map(DataRecord::into_owned));
    }
    assert_eq!(got.len(), records.len());
    for (g, r) in got.iter().zip(records) {
        assert_eq!(g, r);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn flat_records_roundtrip(
        fields in proptest::collection::vec(field(), 1..12),
        extra in proptest::collection::vec(proptest::collection::vec(field(), 1..12), 0..20),
        max in 400usize..=65535,
    ) {
        let Ok(t) = Template::new(256, fields.iter().map(spec).collect()) else {
            // Only all-zero-length templates are refused; anything else must be accepted.
            prop_assert!(fields.iter().all(|f| matches!(f, F::Pad(0))));
            return Ok(());
        };
        let t = Arc::new(t);
        let mut records = Vec::new();
        // Extra records reuse the template's shape with fresh values of matching kinds.
        for vals in std::iter::once(&fields).chain(extra.iter().filter(|v| v.len() == fields.len()
            && v.iter().zip(&fields).all(|(a, b)| spec(a) == spec(b))))
        {
            let mut b = RecordBuilder::new(Arc::clone(&t));
            for f in vals {
                push(&mut b, f);
            }
            let rec = b.build().unwrap();
            if rec.wire_len() + 20 <= max {
                records.push(rec);
            }
        }
        roundtrip(&[t], &records, max);
    }

    #[test]
    fn yaf_shaped_nested_records_roundtrip(
        flows in proptest::collection::vec(
            proptest::collection::vec((proptest::collection::vec(any::<u8>(), 0..80), any::<u32>(), proptest::option::of(any::<u32>())), 0..12),
            1..30),
        max in 600usize..=65535,
    ) {
        let a = Arc::new(Template::new(0xCE01, vec![FieldSpec::new(ElementId::iana(8), 4)]).unwrap());
        let qr = Arc::new(Template::new(0xCF00, vec![
            FieldSpec::varlen(ElementId::iana(292)),
            FieldSpec::varlen(ElementId::cert(179)),
            FieldSpec::new(ElementId::cert(199), 4),
            FieldSpec::new(ElementId::iana(210), 4),
        ]).unwrap());
        let dns = Arc::new(Template::new(0xCE00, vec![FieldSpec::varlen(ElementId::iana(292))]).unwrap());
        let flow = Arc::new(Template::new(0xB000, vec![
            FieldSpec::new(ElementId::iana(152), 8),
            FieldSpec::varlen(ElementId::iana(293)),
        ]).unwrap());
        let mut records = Vec::new();
        for (i, rrs) in flows.iter().enumerate() {
            let mut list = Vec::new();
            for (name, ttl, rdata) in rrs {
                let rd = rdata.map(|ip| {
                    let mut b = RecordBuilder::new(Arc::clone(&a));
                    b.push(Ipv4Addr::from(ip)).unwrap();
                    vec![b.build().unwrap()]
                }).unwrap_or_default();
                let mut b = RecordBuilder::new(Arc::clone(&qr));
                b.push(SubTemplateList::new(ALL_OF, &a, rd)).unwrap();
                b.push(name.clone()).unwrap();
                b.push(*ttl).unwrap();
                b.push(Value::Padding).unwrap();
                list.push(b.build().unwrap());
            }
            let mut d = RecordBuilder::new(Arc::clone(&dns));
            d.push(SubTemplateList::new(ALL_OF, &qr, list)).unwrap();
            let entries = if rrs.is_empty() { vec![] } else { vec![StmlEntry::new(&dns, vec![d.build().unwrap()])] };
            let mut f = RecordBuilder::new(Arc::clone(&flow));
            f.push(Value::Time(1_369_953_917_000_000_000 + i as i128 * 1_000_000)).unwrap();
            f.push(SubTemplateMultiList { semantic: ALL_OF, entries }).unwrap();
            let rec = f.build().unwrap();
            // Flows too big for the chosen message size are a caller error, not a codec one.
            if rec.wire_len() + 20 <= max {
                records.push(rec);
            }
        }
        roundtrip(&[a, qr, dns, flow], &records, max);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut s = Session::new();
        if let Ok(m) = s.decode(&bytes, 0) {
            let re = m.to_bytes().unwrap();
            prop_assert_eq!(&re[..], &bytes[..usize::from(m.header.length)]);
        }
    }

    #[test]
    fn mutated_fixture_never_panics_and_roundtrips(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let f = common::fixtures().join("yaf/dns-stats+compactor/test-scripts/gold.yaf");
        let orig = std::fs::read(f).unwrap();
        let mut bytes = orig.clone();
        for (i, v) in &flips {
            let i = i.index(bytes.len());
            bytes[i] = *v;
        }
        let mut s = Session::new();
        let mut off = 0;
        while off < bytes.len() {
            let Ok(m) = s.decode(&bytes[off..], off as u64) else { break };
            let len = usize::from(m.header.length);
            let re = m.to_bytes().unwrap();
            prop_assert_eq!(&re[..], &bytes[off..off + len]);
            // A second session decoding the re-encoding sees the same records.
            off += len;
        }
    }
}
