//! The typed view reads the same values libfixbuf's ipfixDump prints: for every YAF file
//! with a `.dump.txt`, every integer, address and string field at every nesting level, in
//! order, equals ipfixDump's rendering.

mod common;

use std::path::Path;

use common::*;
use ipfix_model::ie::DataType;
use ipfix_model::{DataRecord, FieldData, FileReader, TypedValue};

/// ipfixDump's rendering of the types we compare; `None` for the others.
fn render(f: &ipfix_model::Field<'_, '_>) -> Option<String> {
    match f.spec.data_type()? {
        DataType::String => {
            let s = f.as_str()?;
            Some(format!("(len: {}) {s}", f.bytes()?.len()))
        }
        DataType::Unsigned8
        | DataType::Unsigned16
        | DataType::Unsigned32
        | DataType::Unsigned64
        | DataType::Ipv4Address
        | DataType::Ipv6Address => match f.typed() {
            TypedValue::Unsigned(v) => Some(v.to_string()),
            TypedValue::Ipv4(a) => Some(a.to_string()),
            TypedValue::Ipv6(a) => Some(a.to_string()),
            _ => None,
        },
        _ => None,
    }
}

fn collect(r: &DataRecord<'_>, out: &mut Vec<String>) {
    for f in r.iter() {
        if let Some(v) = render(&f) {
            out.push(format!("{} {v}", f.element()));
        }
        if !matches!(f.value.data, FieldData::Raw(_)) {
            for sub in f.sub_records() {
                collect(sub, out);
            }
        }
    }
}

/// Same fields from the dump text: "(6871/179)   dnsQName : (len: 21) 8.8.8.8.in-addr.arpa."
fn from_dump(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let l = line.trim_start();
        let Some(rest) = l.strip_prefix('(') else {
            continue;
        };
        let Some((elem, rest)) = rest.split_once(')') else {
            continue;
        };
        let Some((_, value)) = rest.split_once(" : ") else {
            continue;
        };
        let (pen, id) = match elem.split_once('/') {
            Some((p, i)) => (p.parse().unwrap_or(u32::MAX), i.parse().unwrap_or(0)),
            None => (0, elem.parse().unwrap_or(0)),
        };
        let Some(info) = ipfix_model::ie::lookup(ipfix_model::ElementId::new(pen, id)) else {
            continue;
        };
        let keep = matches!(
            info.data_type,
            DataType::String
                | DataType::Unsigned8
                | DataType::Unsigned16
                | DataType::Unsigned32
                | DataType::Unsigned64
                | DataType::Ipv4Address
                | DataType::Ipv6Address
        );
        if keep {
            // ipfixDump zero-pads IPv6 groups; compare addresses, not spellings.
            let value = match info.data_type {
                DataType::Ipv6Address => value
                    .parse::<std::net::Ipv6Addr>()
                    .map(|a| a.to_string())
                    .unwrap_or_else(|_| value.to_string()),
                _ => value.to_string(),
            };
            out.push(format!("{elem} {value}"));
        }
    }
    out
}

fn check(yaf: &Path) -> Result<usize, String> {
    let dump = yaf.with_extension("dump.txt");
    let Ok(text) = std::fs::read_to_string(&dump) else {
        return Ok(0);
    };
    let want = from_dump(&text);
    let mut got = Vec::new();
    let mut rd = FileReader::new(std::fs::File::open(yaf).map_err(|e| e.to_string())?);
    while let Some(m) = rd.next_message().map_err(|e| e.to_string())? {
        for r in m.data_records() {
            collect(r, &mut got);
        }
    }
    if got != want {
        let i = got
            .iter()
            .zip(&want)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        return Err(format!(
            "{}: value {i} differs: ours {:?}, ipfixDump {:?} ({} vs {} values)",
            yaf.display(),
            got.get(i),
            want.get(i),
            got.len(),
            want.len()
        ));
    }
    Ok(got.len())
}

fn run(files: Vec<std::path::PathBuf>) -> usize {
    let mut failures = Vec::new();
    let mut values = 0;
    for f in &files {
        match check(f) {
            Ok(n) => values += n,
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    values
}

#[test]
fn fixture_values_match_ipfixdump() {
    let n = run(files_with_suffix(&fixtures().join("yaf"), ".yaf"));
    eprintln!("{n} values compared");
    assert!(n > 1000);
}

#[test]
fn corpus_values_match_ipfixdump() {
    let Some(c) = corpus() else {
        eprintln!("corpus not found, skipped");
        return;
    };
    let n = run(files_with_suffix(&c.join("yaf"), ".yaf"));
    eprintln!("{n} values compared");
    assert!(n > 100_000);
}
