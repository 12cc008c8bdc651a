use super::*;

#[test]
fn octet_total_count() {
    let e = lookup(ElementId::iana(85)).unwrap();
    assert_eq!(e.name, "octetTotalCount");
    assert_eq!((e.pen, e.id), (0, 85));
    assert_eq!(e.data_type, DataType::Unsigned64);
    assert_eq!(e.semantics, Semantics::TotalCounter);
    assert_eq!(e.units, Some("octets"));
    assert!(!e.reverse);
}

#[test]
fn rfc5103_reverse_twin_copies_type_semantics_units() {
    let e = lookup(ElementId::new(REVERSE_PEN, 85)).unwrap();
    assert_eq!(e.name, "reverseOctetTotalCount");
    assert_eq!(e.data_type, DataType::Unsigned64);
    assert_eq!(e.semantics, Semantics::TotalCounter);
    assert_eq!(e.units, Some("octets"));
    assert!(e.reverse);
    // Upper-casing of the first letter only: sourceIPv4Address -> reverseSourceIPv4Address.
    assert_eq!(
        lookup(ElementId::new(REVERSE_PEN, 8)).unwrap().name,
        "reverseSourceIPv4Address"
    );
}

#[test]
fn rfc5103_non_reversible_elements_have_no_twin() {
    for id in [
        40, 41, 42, 130, 131, 137, 145, 148, 149, 163, 164, 167, 173, 210, 211, 217, 239,
    ] {
        assert!(
            lookup(ElementId::iana(id)).is_some(),
            "forward {id} missing"
        );
        assert!(
            lookup(ElementId::new(REVERSE_PEN, id)).is_none(),
            "{id} must not be reversible"
        );
    }
    assert!(lookup_name("reversePaddingOctets").is_none());
    assert!(lookup_name("reverseObservationDomainId").is_none());
}

#[test]
fn cert_dns_and_reverse_elements() {
    let q = lookup(ElementId::cert(179)).unwrap();
    assert_eq!(
        (q.name, q.data_type, q.reverse),
        ("dnsQName", DataType::String, false)
    );
    assert_eq!(DataType::String.default_length(), None);

    let fa = lookup(ElementId::new(CERT_PEN, 16424)).unwrap();
    assert_eq!(fa.name, "reverseFlowAttributes");
    assert_eq!(
        (fa.data_type, fa.semantics),
        (DataType::Unsigned16, Semantics::Flags)
    );
    assert!(fa.reverse);

    // CERT elements the registry does not mark reversible get no 0x4000 twin.
    assert!(lookup(ElementId::cert(0x4000 | 179)).is_none());
    // YAF's element that libfixbuf 2.4.1's cert_ipfix.xml lacks (registry/cert_pen6871_extra.tsv).
    let micro = lookup(ElementId::cert(41)).unwrap();
    assert_eq!(
        (micro.name, micro.data_type),
        ("reverseFlowDeltaMicroseconds", DataType::Unsigned64)
    );
}

#[test]
fn structured_and_padding() {
    let stml = lookup(ElementId::iana(293)).unwrap();
    assert_eq!(
        (stml.name, stml.data_type),
        ("subTemplateMultiList", DataType::SubTemplateMultiList)
    );
    assert_eq!(stml.semantics, Semantics::List);
    let stl = lookup(ElementId::iana(292)).unwrap();
    assert_eq!(stl.data_type, DataType::SubTemplateList);
    let pad = lookup(ElementId::iana(210)).unwrap();
    assert_eq!(
        (pad.name, pad.data_type),
        ("paddingOctets", DataType::OctetArray)
    );
}

#[test]
fn unknown_elements() {
    assert!(lookup(ElementId::iana(0)).is_none());
    assert!(lookup(ElementId::iana(32767)).is_none());
    assert!(lookup(ElementId::new(9, 1)).is_none());
    assert!(lookup(ElementId::new(u32::MAX, u16::MAX)).is_none());
    assert!(lookup_name("").is_none());
    assert!(
        lookup_name("octettotalcount").is_none(),
        "names are case-sensitive"
    );
    assert!(lookup_name("noSuchElement").is_none());
}

#[test]
fn name_lookup_round_trips_for_every_element() {
    let mut n = 0;
    let mut shadowed = Vec::new();
    for e in all() {
        let found = lookup_name(e.name).unwrap_or_else(|| panic!("{} not found by name", e.name));
        if !std::ptr::eq(found, e) {
            // Only a CERT name that IANA registered later may resolve elsewhere: to IANA's.
            assert_eq!((found.pen, e.pen, found.name), (IANA_PEN, CERT_PEN, e.name));
            shadowed.push(e.name);
        }
        let found = lookup(e.element_id()).unwrap();
        assert!(std::ptr::eq(found, e), "{} not found by id", e.name);
        n += 1;
    }
    assert_eq!(n, all().count());
    assert_eq!(shadowed, ["httpUserAgent", "httpContentType"]);
    assert_eq!(
        lookup_name("httpUserAgent").unwrap().element_id(),
        ElementId::iana(468)
    );
    assert_eq!(lookup(ElementId::cert(111)).unwrap().name, "httpUserAgent");
}

#[test]
fn table_is_sorted_and_counts_are_sane() {
    let v: Vec<_> = all().collect();
    assert!(v
        .windows(2)
        .all(|w| (w[0].pen, w[0].id) < (w[1].pen, w[1].id)));
    let count = |pen: u32, rev: bool| {
        v.iter()
            .filter(|e| e.pen == pen && e.reverse == rev)
            .count()
    };
    let (iana, iana_rev) = (count(IANA_PEN, false), count(REVERSE_PEN, true));
    let (cert, cert_rev) = (count(CERT_PEN, false), count(CERT_PEN, true));
    // IANA registry of 2026-07-22: 502 typed elements; RFC 5103 excludes 25 of them.
    assert_eq!(iana, 502);
    assert_eq!(iana_rev, iana - 25);
    // cert_ipfix.xml: 279 typed records, 24 reversible; plus one YAF extra.
    assert_eq!((cert, cert_rev), (280, 24));
    assert_eq!(
        v.len(),
        iana + iana_rev + cert + cert_rev,
        "no element outside the three PENs"
    );
    // Every reverse twin mirrors a forward element.
    for e in v.iter().filter(|e| e.reverse) {
        let fwd = if e.pen == REVERSE_PEN {
            ElementId::iana(e.id)
        } else {
            ElementId::cert(e.id & !0x4000)
        };
        let f = lookup(fwd).unwrap();
        assert_eq!(
            (f.data_type, f.semantics, f.units),
            (e.data_type, e.semantics, e.units)
        );
        assert!(e
            .name
            .strip_prefix("reverse")
            .unwrap()
            .eq_ignore_ascii_case(f.name));
    }
}

#[test]
fn data_type_names_and_lengths() {
    for t in DataType::ALL {
        assert_eq!(DataType::from_name(t.name()), Some(t));
    }
    assert_eq!(DataType::Unsigned32.name(), "unsigned32");
    assert_eq!(DataType::from_name("unsigned256"), None);
    assert_eq!(DataType::Unsigned64.default_length(), Some(8));
    assert_eq!(DataType::DateTimeSeconds.default_length(), Some(4));
    assert_eq!(DataType::DateTimeMicroseconds.default_length(), Some(8));
    assert_eq!(DataType::MacAddress.default_length(), Some(6));
    assert_eq!(DataType::Ipv6Address.default_length(), Some(16));
    assert_eq!(DataType::SubTemplateMultiList.default_length(), None);
    assert!(DataType::Unsigned64.allows_reduced_size());
    assert!(!DataType::Ipv4Address.allows_reduced_size());
    assert_eq!(ElementId::new(REVERSE_PEN, 85).to_string(), "29305/85");
    assert_eq!(ElementId::iana(85).to_string(), "85");
}

#[test]
fn ids_constants_match_registered_names() {
    for (name, id) in ids::ALL {
        let e = lookup(*id).unwrap_or_else(|| panic!("{name} ({id}) unknown"));
        assert_eq!(e.name, *name, "constant for {id}");
    }
    assert_eq!(ids::DNS_QNAME, ElementId::cert(179));
    assert_eq!(
        ids::REVERSE_OCTET_TOTAL_COUNT,
        ElementId::new(REVERSE_PEN, 85)
    );
}

/// Every element in YAF 2.16.4's templates (corpus dumps, named by ipfixDump with CERT's model)
/// must be known under the same name and abstract type.
#[test]
fn corpus_yaf_template_elements_are_known() {
    let Some(files) = super::dump_txt::yaf_dump_files("corpus_yaf_template_elements_are_known")
    else {
        return;
    };
    let mut seen = std::collections::BTreeSet::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for t in super::dump_txt::parse_templates(&text, file) {
            for f in t.fields {
                let id = ElementId::new(f.pen, f.id);
                let e = lookup(id)
                    .unwrap_or_else(|| panic!("{}: {id} {} unknown", file.display(), f.name));
                assert_eq!(e.name, f.name, "{}: {id}", file.display());
                let t = super::dump_txt::dump_type(&f.type_name).unwrap_or_else(|| {
                    panic!("{}: unknown ipfixDump type {}", file.display(), f.type_name)
                });
                assert_eq!(e.data_type, t, "{}: {}", file.display(), f.name);
                seen.insert(id);
            }
        }
    }
    // 291 dumps, one template set each: a parser that found nothing would pass vacuously.
    assert!(
        seen.len() > 100,
        "only {} distinct elements found in {} dumps",
        seen.len(),
        files.len()
    );
    eprintln!(
        "{} distinct YAF elements checked across {} dumps",
        seen.len(),
        files.len()
    );
}

/// registry/cert_pen6871.tsv must be what gen_cert_tsv.py makes of libfixbuf's cert_ipfix.xml.
#[test]
fn cert_tsv_matches_libfixbuf_xml() {
    let xml = "/usr/share/libfixbuf/cert_ipfix.xml";
    if !std::path::Path::new(xml).exists() {
        eprintln!("cert_tsv_matches_libfixbuf_xml: SKIPPED, {xml} not present");
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/registry/gen_cert_tsv.py");
    match std::process::Command::new("python3")
        .args([script, "--check", xml])
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => eprintln!("cert_tsv_matches_libfixbuf_xml: SKIPPED, cannot run python3: {e}"),
    }
}
