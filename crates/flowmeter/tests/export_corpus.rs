//! Every capture (tests/data/pcap, and ../shared/corpus/pcap when present) through the real
//! pipeline into our file exporter; the output must read back with zero errors by ipfix-model
//! AND by CERT's `ipfixDump` (libfixbuf-tools): exit status 0, nothing on stderr, and the same
//! message and data-record counts as ipfix-model's.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod export_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;

use export_support::*;
use flowmeter::capture::file::FileSource;
use flowmeter::capture::PacketSource;
use flowmeter::config::{ExportConfig, MeterConfig};
use flowmeter::decode::DefragConfig;
use flowmeter::export::file::FileSink;
use flowmeter::export::SinkOptions;
use flowmeter::flow::FlowConfig;

fn captures() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for root in [
        Some(repo_root().join("tests/data/pcap")),
        corpus().map(|c| c.join("pcap")),
    ]
    .into_iter()
    .flatten()
    {
        walk_captures(&root, &mut v);
    }
    if corpus().is_none() {
        eprintln!("NOTE: ../shared/corpus not found: only tests/data/pcap is run");
    }
    v.sort();
    v
}

fn walk_captures(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk_captures(&p, out);
        } else if matches!(
            p.extension().and_then(|x| x.to_str()),
            Some("pcap" | "pcapng" | "cap")
        ) {
            out.push(p);
        }
    }
}

pub fn meter_config() -> MeterConfig {
    MeterConfig {
        flow: FlowConfig::default(),
        defrag: Some(DefragConfig::default()),
        stats_interval_s: 0,
    }
}

/// Runs one capture into an IPFIX file; returns the pipeline's error text, if any.
pub fn run_capture(pcap: &Path, out: &Path) -> Option<String> {
    run_capture_with(pcap, out, &SinkOptions::default())
}

pub fn run_capture_with(pcap: &Path, out: &Path, opts: &SinkOptions) -> Option<String> {
    let cfg = ExportConfig {
        stats_interval_s: 0,
        ..ExportConfig::file(out.to_string_lossy().into_owned())
    };
    let mut sink = FileSink::open(&cfg, opts).unwrap();
    let src = match FileSource::open(pcap) {
        Ok(s) => s,
        Err(e) => {
            sink.close().unwrap();
            return Some(format!("open: {e}"));
        }
    };
    let sources: Vec<Box<dyn PacketSource>> = vec![Box::new(src)];
    let r = flowmeter::pipeline::run(
        &meter_config(),
        sources,
        false,
        &mut sink,
        &AtomicBool::new(false),
    );
    sink.close().unwrap();
    r.err().map(|e| e.to_string())
}

fn ipfixdump_available() -> bool {
    Command::new("ipfixDump").arg("--version").output().is_ok()
}

/// `ipfixDump --in F --out T`: status, stderr, and its "File Stats" counts.
fn ipfixdump(file: &Path, text: &Path) -> Result<(usize, usize), String> {
    let o = Command::new("ipfixDump")
        .arg("--in")
        .arg(file)
        .arg("--out")
        .arg(text)
        .output()
        .map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&o.stderr);
    if !o.status.success() || !stderr.trim().is_empty() {
        return Err(format!("status {:?}, stderr {stderr:?}", o.status.code()));
    }
    let dump = std::fs::read_to_string(text).map_err(|e| e.to_string())?;
    // *** File Stats: 3 Messages, 2 Data Records, 23 Template Records ***
    let line = dump
        .lines()
        .rev()
        .find(|l| l.contains("File Stats"))
        .ok_or("no File Stats line")?;
    let nums: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    Ok((nums[0], nums[1]))
}

#[test]
fn every_capture_exports_ipfix_that_ipfix_model_and_ipfixdump_read() {
    let caps = captures();
    assert!(!caps.is_empty());
    let dump = ipfixdump_available();
    if !dump {
        eprintln!(
            "NOTE: ipfixDump not installed (Debian libfixbuf-tools): only ipfix-model checks"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut flows, mut dns_msgs, mut capture_errors) = (0usize, 0usize, Vec::new());
    let mut failures = Vec::new();
    for (i, pcap) in caps.iter().enumerate() {
        let out = dir.path().join(format!("{i}.yaf"));
        if let Some(e) = run_capture(pcap, &out) {
            capture_errors.push(format!("{}: {e}", pcap.display()));
        }
        let bytes = std::fs::read(&out).unwrap();
        let r = std::panic::catch_unwind(|| {
            let mut records = 0;
            let messages = for_each_message(&bytes, |_, m| records += m.data_record_count());
            (messages, records)
        });
        let Ok((messages, records)) = r else {
            failures.push(format!(
                "{}: ipfix-model could not read our output",
                pcap.display()
            ));
            continue;
        };
        for set in data_sets(&bytes) {
            if is_flow_template(set.tid) {
                flows += set.records.len();
                dns_msgs += set
                    .records
                    .iter()
                    .filter(|r| !flow_from_yaf(r).dns.is_empty())
                    .count();
            }
        }
        if dump {
            match ipfixdump(&out, &dir.path().join(format!("{i}.txt"))) {
                Ok((m, d)) if (m, d) == (messages, records) => {}
                Ok((m, d)) => failures.push(format!(
                    "{}: ipfixDump counted {m} messages / {d} records, ipfix-model {messages} / {records}",
                    pcap.display()
                )),
                Err(e) => failures.push(format!("{}: ipfixDump: {e}", pcap.display())),
            }
        }
        std::fs::remove_file(&out).ok();
    }
    eprintln!(
        "{} captures -> {flows} flow records ({dns_msgs} with DNS); {} capture read errors (output still checked):",
        caps.len(),
        capture_errors.len()
    );
    for e in &capture_errors {
        eprintln!("  {e}");
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `--plugin-opts="53 DNSSEC"`: DS/RRSIG/NSEC/DNSKEY/NSEC3 rdata in YAF's DNSSEC templates.
/// Output of the DNSSEC-rich captures must read back with ipfix-model and ipfixDump, carry
/// DNSSEC rdata records, and re-encode byte-identical from the decoded values (so the records
/// agree with the template definitions we send).
#[test]
fn dnssec_export_reads_back_and_round_trips() {
    let caps: Vec<PathBuf> = captures()
        .into_iter()
        .filter(|p| {
            // All small fixtures, and the DNSSEC-rich part of the corpus.
            let s = p.to_string_lossy();
            p.starts_with(repo_root().join("tests/data"))
                || s.contains("dnssec")
                || s.contains("nsd-live")
        })
        .collect();
    assert!(!caps.is_empty());
    let dir = tempfile::tempdir().unwrap();
    let opts = SinkOptions {
        dnssec: true,
        ..SinkOptions::default()
    };
    let mut dnssec_rdata = 0usize;
    for (i, pcap) in caps.iter().enumerate() {
        let out = dir.path().join(format!("{i}.yaf"));
        run_capture_with(pcap, &out, &opts);
        let bytes = std::fs::read(&out).unwrap();
        for set in data_sets(&bytes) {
            if !is_flow_template(set.tid) {
                continue;
            }
            let mut again = Vec::new();
            for rec in &set.records {
                let f = flow_from_yaf(rec);
                dnssec_rdata += f
                    .dns
                    .iter()
                    .filter(|r| {
                        use flowmeter::dpi::RdataOf::*;
                        matches!(
                            r.rdata,
                            Ds { .. } | Rrsig { .. } | Nsec { .. } | Dnskey { .. } | Nsec3 { .. }
                        )
                    })
                    .count();
                flowmeter::export::yaf::encode_flow(
                    &f,
                    flowmeter::export::yaf::EncodeOptions {
                        dnssec: true,
                        ..Default::default()
                    },
                    &mut again,
                );
            }
            if again != set.body {
                let at = again
                    .iter()
                    .zip(&set.body)
                    .position(|(a, b)| a != b)
                    .unwrap_or(0);
                panic!(
                    "{}: DNSSEC record does not round-trip at byte {at}: ours {:02x?} file {:02x?}",
                    pcap.display(),
                    &again[at.saturating_sub(8)..(at + 16).min(again.len())],
                    &set.body[at.saturating_sub(8)..(at + 16).min(set.body.len())]
                );
            }
        }
        if ipfixdump_available() {
            let mut records = 0;
            let messages = for_each_message(&bytes, |_, m| records += m.data_record_count());
            let got = ipfixdump(&out, &dir.path().join(format!("{i}.txt"))).unwrap();
            assert_eq!(got, (messages, records), "{}", pcap.display());
        }
    }
    eprintln!(
        "{} DNSSEC-rich captures, {dnssec_rdata} DNSSEC rdata records exported",
        caps.len()
    );
    assert!(dnssec_rdata > 0, "no DNSSEC rdata exported");
}

/// Export fidelity: the flows the pipeline hands to the sink, and the same flows decoded back
/// from our IPFIX file, agree on every field, except where YAF's format itself loses
/// information (checked to be exactly that): times to the microsecond, HTTPS/SVCB/CAA/other
/// rdata (no YAF template: empty rdata list, type kept), and NSEC3 flags (not in 0xCE13).
#[test]
fn exported_flows_decode_back_to_what_the_pipeline_produced() {
    use flowmeter::dpi::Rdata;
    use flowmeter::flow::{FlowRecord, VecSink};
    let dir = tempfile::tempdir().unwrap();
    let opts = SinkOptions {
        dnssec: true,
        ..SinkOptions::default()
    };
    let (mut flows, mut lossy_rdata) = (0usize, 0usize);
    for (i, pcap) in captures().iter().enumerate() {
        let Ok(src) = FileSource::open(pcap) else {
            continue;
        };
        let mut mem = VecSink::default();
        let sources: Vec<Box<dyn PacketSource>> = vec![Box::new(src)];
        let _ = flowmeter::pipeline::run(
            &meter_config(),
            sources,
            false,
            &mut mem,
            &AtomicBool::new(false),
        );
        let out = dir.path().join(format!("{i}.yaf"));
        run_capture_with(pcap, &out, &opts);
        let back: Vec<FlowRecord> = data_sets(&std::fs::read(&out).unwrap())
            .into_iter()
            .filter(|s| is_flow_template(s.tid))
            .flat_map(|s| s.records.iter().map(flow_from_yaf).collect::<Vec<_>>())
            .collect();
        assert_eq!(
            back.len(),
            mem.records.len(),
            "{}: flow count",
            pcap.display()
        );
        for (orig, got) in mem.records.iter().zip(&back) {
            flows += 1;
            let mut want = orig.clone();
            // YAF's format: microsecond times, reverse delta in microseconds.
            assert!(
                got.start_ns.abs_diff(want.start_ns) < 1_000,
                "{}: start",
                pcap.display()
            );
            assert!(
                got.end_ns.abs_diff(want.end_ns) < 1_000,
                "{}: end",
                pcap.display()
            );
            want.start_ns = got.start_ns;
            want.end_ns = got.end_ns;
            want.rev_delta_ns = want.rev_delta_ns / 1_000 * 1_000;
            if want.rev_packets == 0 {
                // uniflow templates carry no reverse fields
                (
                    want.rev_vlan,
                    want.rev_tos,
                    want.rev_attributes,
                    want.rev_delta_ns,
                ) = (0, 0, 0, 0);
            }
            for r in &mut want.dns {
                match &mut r.rdata {
                    Rdata::Svcb { .. } | Rdata::Caa { .. } | Rdata::Other(_) => {
                        lossy_rdata += 1;
                        r.rdata = Rdata::None;
                    }
                    Rdata::Nsec3 { flags, .. } => *flags = 0,
                    _ => {}
                }
            }
            assert_eq!(got, &want, "{}: flow differs after export", pcap.display());
        }
    }
    eprintln!("{flows} flows identical after export ({lossy_rdata} rdata of types without a YAF template)");
    assert!(flows > 0);
}
