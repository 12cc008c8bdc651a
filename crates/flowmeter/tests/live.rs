//! Live capture end to end: the `flowmeter` binary captures on the
//! loopback interface with a BPF filter, drops root to `nobody` after
//! opening the handle, sees DNS queries and answers sent over loopback,
//! and on SIGTERM flushes its flows (flowEndReason 4) and exits cleanly.
//! Promiscuous mode is on by default and off with `--promisc-off`, as the
//! interface's IFF_PROMISC flag shows while the capture runs.
//! Skipped (with a note) where capturing on `lo` is not permitted.
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn dns_query(id: u16) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    m.extend_from_slice(b"\x04live\x07example\x00\x00\x01\x00\x01");
    m
}

fn dns_answer(id: u16) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
    m.extend_from_slice(b"\x04live\x07example\x00\x00\x01\x00\x01");
    m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 53]);
    m
}

#[test]
fn live_capture_on_loopback_with_filter_privilege_drop_and_sigterm() {
    if !nix_is_root() {
        eprintln!("SKIPPED: live capture test needs root (CAP_NET_RAW) to open lo");
        return;
    }
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let exe = env!("CARGO_BIN_EXE_flowmeter");
    let mut child = Command::new(exe)
        .args([
            "--live",
            "pcap",
            "--in",
            "lo",
            "--promisc-off",
            "--print-flows",
        ])
        .args(["--filter", &format!("udp port {port}")])
        .args(["--become-user", "nobody", "--log-level", "info"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Give libpcap time to open and the filter to be installed.
    std::thread::sleep(Duration::from_millis(1500));
    if could_not_capture(&mut child) {
        return;
    }
    // The process must no longer be root.
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid_line.split_whitespace().skip(1).all(|u| u == "65534"),
        "{uid_line}"
    );

    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    let cport = client.local_addr().unwrap().port();
    // Traffic the filter must drop: another port.
    let other = UdpSocket::bind("127.0.0.1:0").unwrap();
    for id in 0..5u16 {
        client.send_to(&dns_query(id), ("127.0.0.1", port)).unwrap();
        let mut buf = [0u8; 512];
        let (_, from) = server.recv_from(&mut buf).unwrap();
        server.send_to(&dns_answer(id), from).unwrap();
        client.recv_from(&mut buf).unwrap();
        client
            .send_to(b"not for us", other.local_addr().unwrap())
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(1000));
    nix_kill_term(child.id());
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "flowmeter did not exit on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = all_of(child.stdout.take());
    let err = all_of(child.stderr.take());
    assert!(status.success(), "{status}: {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "one biflow expected:\n{out}\n{err}");
    let l = lines[0];
    assert!(
        l.contains(&format!("127.0.0.1:{cport} -> 127.0.0.1:{port}")),
        "{l}"
    );
    assert!(l.contains("pkts 5/5"), "{l}");
    assert!(l.contains("end 4 "), "{l}");
    assert!(l.contains("app 53 "), "{l}");
    assert!(err.contains("privileges dropped"), "{err}");
}

/// IFF_PROMISC in the interface's flags (the kernel sets it while any
/// packet socket holds a promiscuous membership, as libpcap's does).
fn lo_is_promiscuous() -> bool {
    const IFF_PROMISC: u32 = 0x100;
    let flags = std::fs::read_to_string("/sys/class/net/lo/flags").unwrap();
    let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).unwrap();
    flags & IFF_PROMISC != 0
}

/// Starts a capture on `lo` with `extra` arguments, returns whether `lo`
/// was promiscuous while it ran, and stops it with SIGTERM.
fn promiscuous_while_capturing(extra: &[&str]) -> Option<bool> {
    let exe = env!("CARGO_BIN_EXE_flowmeter");
    let out = std::env::temp_dir().join(format!("flowmeter-promisc-{}.ipfix", std::process::id()));
    let mut child = Command::new(exe)
        .args(["--live", "pcap", "--in", "lo", "--filter", "udp port 9"])
        .args(extra)
        .arg("--out")
        .arg(&out)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    let mut seen = false;
    // The flag goes up when libpcap activates the handle; poll instead of
    // guessing how long that takes.
    while t.elapsed() < Duration::from_millis(1500) {
        seen |= lo_is_promiscuous();
        std::thread::sleep(Duration::from_millis(50));
    }
    if could_not_capture(&mut child) {
        return None;
    }
    nix_kill_term(child.id());
    assert!(child.wait().unwrap().success());
    let _ = std::fs::remove_file(&out);
    Some(seen)
}

#[test]
fn promiscuous_mode_is_on_by_default_and_off_on_request() {
    if !nix_is_root() {
        eprintln!("SKIPPED: live capture test needs root (CAP_NET_RAW) to open lo");
        return;
    }
    if lo_is_promiscuous() {
        eprintln!("SKIPPED: lo is already promiscuous (another capture?): nothing to observe");
        return;
    }
    let Some(on) = promiscuous_while_capturing(&[]) else {
        return;
    };
    assert!(on, "lo never became promiscuous during a default capture");
    assert!(
        !lo_is_promiscuous(),
        "lo stayed promiscuous after the capture ended"
    );
    let Some(on) = promiscuous_while_capturing(&["--promisc-off"]) else {
        return;
    };
    assert!(
        !on,
        "lo became promiscuous although --promisc-off was given"
    );
}

/// Whether the capture has already exited (no permission to open `lo`
/// here, for one): says so, with its error output, for the test to skip.
fn could_not_capture(child: &mut std::process::Child) -> bool {
    let Ok(Some(status)) = child.try_wait() else {
        return false;
    };
    let err = all_of(child.stderr.take());
    eprintln!("SKIPPED: flowmeter could not capture on lo ({status}): {err}");
    true
}

/// Everything a child's piped stdout or stderr gives until it closes.
fn all_of(pipe: Option<impl Read>) -> String {
    let mut s = String::new();
    pipe.unwrap().read_to_string(&mut s).unwrap();
    s
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

fn nix_kill_term(pid: u32) {
    let ok = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}
