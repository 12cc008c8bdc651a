//! The `ipfix-dump` binary: one JSON line per top-level record, nested lists included, and a
//! non-zero exit naming file and offset on undecodable input.

mod common;

use std::process::Command;

use common::*;

fn fixture_with_dns() -> std::path::PathBuf {
    fixtures().join("yaf/dns-stats+compactor/test-scripts/gold.yaf")
}

#[test]
fn prints_one_json_line_per_top_level_record() {
    let f = fixture_with_dns();
    let out = Command::new(env!("CARGO_BIN_EXE_ipfix-dump"))
        .arg(&f)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(Some(lines.len()), reference_record_count(&f));
    // Some flow carries DNS names three list levels down: STML -> 0xCE00 -> STL of 0xCF00.
    let qnames: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["fields"]["subTemplateMultiList"]["entries"].as_array())
        .flatten()
        .flat_map(|e| e["records"].as_array().unwrap())
        .filter_map(|r| r["subTemplateList"]["records"].as_array())
        .flatten()
        .map(|rr| rr["dnsQName"].as_str().unwrap())
        .collect();
    assert!(!qnames.is_empty());
    assert!(
        qnames.iter().all(|q| q.is_empty() || q.ends_with('.')),
        "{qnames:?}"
    );
    let first = &lines[0];
    assert!(first["offset"].as_u64().is_some());
    assert!(first["template_id"].as_u64().unwrap() >= 256);
}

#[test]
fn reads_stdin_and_fails_with_file_and_offset_on_truncation() {
    let f = fixture_with_dns();
    let bytes = std::fs::read(&f).unwrap();
    let cut = bytes.len() - 10;
    let tmp = std::env::temp_dir().join(format!("ipfix-dump-test-{}.yaf", std::process::id()));
    std::fs::write(&tmp, &bytes[..cut]).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ipfix-dump"))
        .arg(&tmp)
        .output()
        .unwrap();
    std::fs::remove_file(&tmp).unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&*tmp.to_string_lossy()), "{err}");
    assert!(err.contains(&format!("byte offset {cut}")), "{err}");

    let mut child = Command::new(env!("CARGO_BIN_EXE_ipfix-dump"))
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        Some(
            out.stdout
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .count()
        ),
        reference_record_count(&f)
    );
}
