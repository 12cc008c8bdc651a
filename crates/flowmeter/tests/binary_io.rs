//! The `flowmeter` binary end to end: a capture on standard input (`--in -`, also a pipe left
//! open), the end-of-run line's exported octets, and `--silk` output.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod export_support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use export_support::*;

const DNS_HTTPS: &str = "zeek+zeek/testing/btest/Traces/dns-https.pcap";
const WIKIPEDIA: &str = "zeek+zeek/testing/btest/Traces/wikipedia.pcap";
const DNS_TCP: &str =
    "OISF+suricata-verify/tests/dns/dns-tcp-multirequest-buffer/dns-tcp-multirequest-buffer.pcap";

/// Runs the binary; returns stderr. Panics unless it exits 0.
fn run(args: &[&str], stdin: Option<&Path>) -> String {
    let mut cmd = Command::new(exe());
    cmd.args(args).stderr(Stdio::piped()).stdout(Stdio::null());
    match stdin {
        Some(p) => cmd.stdin(std::fs::File::open(p).unwrap()),
        None => cmd.stdin(Stdio::null()),
    };
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "flowmeter {args:?} failed:\n{err}");
    err
}

fn flow_set_bodies(path: &Path) -> Vec<(u16, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    data_sets(&bytes)
        .into_iter()
        .filter(|s| is_flow_template(s.tid))
        .map(|s| (s.tid, s.body))
        .collect()
}

#[test]
fn stdin_gives_the_same_records_as_the_file() {
    let dir = tempfile::tempdir().unwrap();
    for cap in [DNS_HTTPS, WIKIPEDIA] {
        let (a, b) = (dir.path().join("file.yaf"), dir.path().join("stdin.yaf"));
        let pcap = fixture(cap);
        run(
            &["--in", pcap.to_str().unwrap(), "--out", a.to_str().unwrap()],
            None,
        );
        run(&["--in", "-", "--out", b.to_str().unwrap()], Some(&pcap));
        let (fa, fb) = (flow_set_bodies(&a), flow_set_bodies(&b));
        assert!(!fa.is_empty());
        assert_eq!(fa, fb, "{cap}: stdin and file runs differ");
    }
}

/// `flowmeter --in X --out - | ipfix-dump -`: IPFIX on standard output, written by the export
/// thread, must come out whole and the run must end (a stdout lock held by the packet thread
/// once stopped the export thread for good).
#[test]
fn ipfix_to_stdout_ends_and_equals_the_file_output() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = fixture(WIKIPEDIA);
    let file = dir.path().join("file.yaf");
    run(
        &[
            "--in",
            pcap.to_str().unwrap(),
            "--out",
            file.to_str().unwrap(),
        ],
        None,
    );
    let mut child = Command::new(exe())
        .args(["--in", pcap.to_str().unwrap(), "--out", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut v).unwrap();
        v
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("flowmeter --out - did not end within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    let piped = dir.path().join("stdout.yaf");
    std::fs::write(&piped, reader.join().unwrap()).unwrap();
    let (fa, fb) = (flow_set_bodies(&file), flow_set_bodies(&piped));
    assert!(!fa.is_empty());
    assert_eq!(fa, fb, "stdout and file runs differ");
}

/// `tcpdump -w - | flowmeter --in -` on a quiet link: the capture header and the first packets
/// arrive in one read and the pipe then stays open. Every packet must be processed without
/// waiting for more input (the metrics endpoint shows them), and closing the pipe ends the
/// run cleanly.
#[test]
fn a_pipe_left_open_is_processed_as_far_as_it_goes() {
    let pcap = std::fs::read(fixture(DNS_HTTPS)).unwrap();
    let packets = {
        let mut n = 0u64;
        let mut src = flowmeter::capture::file::FileSource::open(&fixture(DNS_HTTPS)).unwrap();
        use flowmeter::capture::{PacketSource, Poll};
        while let Poll::Packets(k) = src.poll(64, &mut |_| {}).unwrap() {
            n += k as u64;
        }
        n
    };
    assert!(packets > 0);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pipe.yaf");
    let mut child = Command::new(exe())
        .args([
            "--in",
            "-",
            "--out",
            out.to_str().unwrap(),
            "--metrics-listen",
            "127.0.0.1:0",
            "--log-level",
            "info",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&pcap).unwrap();
    stdin.flush().unwrap();
    // The metrics address is in the log; the rest of stderr is collected for failures.
    let (rx, reader) = follow_stderr(&mut child);
    let addr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("no metrics address logged: the run is stuck before processing");
        if let Some(i) = line.find("addr=") {
            break line[i + 5..].split_whitespace().next().unwrap().to_string();
        }
    };
    let t = Instant::now();
    let mut seen = 0.0;
    while t.elapsed() < Duration::from_secs(20) {
        if let Some(v) = scrape(&addr, "flowmeter_packets_total") {
            seen = v;
            if v as u64 == packets {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        seen as u64, packets,
        "packets processed while the pipe is open"
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "exited with the pipe open"
    );
    drop(stdin);
    let status = child.wait().unwrap();
    let err = reader.join().unwrap();
    assert!(status.success(), "{err}");
    assert!(!flows(&out).is_empty());
}

/// The end-of-run line reports the IPFIX octets exported: the size of the output file.
/// The binary on the wikipedia capture into a file, with `extra` arguments: its stderr and the
/// output file's size.
fn run_wikipedia_to_file(extra: &[&str]) -> (String, u64) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.yaf");
    let pcap = fixture(WIKIPEDIA);
    let mut args = vec![
        "--in",
        pcap.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let err = run(&args, None);
    (err, std::fs::metadata(&out).unwrap().len())
}

#[test]
fn end_of_run_line_reports_the_bytes_written() {
    let (err, size) = run_wikipedia_to_file(&[]);
    let line = err
        .lines()
        .find(|l| l.starts_with("flowmeter: ") && l.contains(" flows, "))
        .unwrap_or_else(|| panic!("no summary line:\n{err}"));
    assert!(
        line.ends_with(&format!(", {size} IPFIX bytes exported")),
        "{line} (file is {size} bytes)"
    );
}

/// The `done` log line names each thread's CPU time: the reader, packet and export threads
/// of a file run, each with a number, the packet thread's above zero.
#[test]
fn done_line_gives_cpu_time_per_thread() {
    let (err, _) = run_wikipedia_to_file(&["--log-level", "info"]);
    let list = err
        .lines()
        .filter(|l| l.contains(" done "))
        .find_map(|l| l.split_once("thread_cpu_secs=").map(|(_, r)| r))
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no thread_cpu_secs in the done line:\n{err}"));
    let secs = |role: &str| -> f64 {
        list.split(',')
            .find_map(|kv| kv.strip_prefix(role)?.strip_prefix(':'))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {role} in {list:?}"))
    };
    assert!(secs("packet") > 0.0, "{list}");
    assert!(secs("export") >= 0.0, "{list}");
    assert!(secs("read") >= 0.0, "{list}");
}

/// `--silk`: the same flows as the default layout, but TCP flows carry their TCP fields in the
/// record (templates with 0x0020) and no TCP entry in the subTemplateMultiList; other flows are
/// unchanged. ipfixDump (libfixbuf) reads the file, when installed.
#[test]
fn silk_layout_carries_the_same_flows() {
    let dir = tempfile::tempdir().unwrap();
    let mut tcp_flows = 0;
    for cap in [WIKIPEDIA, DNS_TCP] {
        let (plain, silk) = (dir.path().join("plain.yaf"), dir.path().join("silk.yaf"));
        let pcap = fixture(cap);
        run(
            &[
                "--in",
                pcap.to_str().unwrap(),
                "--out",
                plain.to_str().unwrap(),
            ],
            None,
        );
        run(
            &[
                "--in",
                pcap.to_str().unwrap(),
                "--out",
                silk.to_str().unwrap(),
                "--silk",
            ],
            None,
        );
        // A capture shorter than the active timeout has no continuations: same flows.
        let (a, b) = (flows(&plain), flows(&silk));
        assert_eq!(a, b, "{cap}");
        let bytes = std::fs::read(&silk).unwrap();
        for set in data_sets(&bytes).iter().filter(|s| is_flow_template(s.tid)) {
            for r in &set.records {
                let tcp = uint(r, 0, 4) == 6;
                assert_eq!(set.tid & 0x0020 != 0, tcp, "template {:#06x}", set.tid);
                if tcp {
                    tcp_flows += 1;
                    assert!(field(r, 0, 184).is_some());
                }
            }
        }
        if let Ok(o) = Command::new("ipfixDump")
            .args(["--yaf", "--in", silk.to_str().unwrap()])
            .output()
        {
            let text = String::from_utf8_lossy(&o.stdout);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            assert!(text.contains("tcpSequenceNumber"), "{cap}");
        } else {
            eprintln!("SKIPPED ipfixDump check: ipfixDump (libfixbuf-tools) not installed");
        }
    }
    assert!(tcp_flows >= 5, "{tcp_flows} TCP flows");
}
