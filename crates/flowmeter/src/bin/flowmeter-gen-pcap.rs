#![forbid(unsafe_code)]
//! Writes a pcap of synthetic DNS traffic (see `flowmeter::capture::generator`).

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

use flowmeter::capture::generator::{write_pcap, GenConfig};

/// Generate a capture of realistic DNS traffic for benchmarks: many
/// clients, a few resolvers, A/AAAA answers with CNAME chains, NXDOMAIN,
/// and a share of DNS over TCP.
#[derive(Debug, Parser)]
#[command(name = "flowmeter-gen-pcap", version)]
struct Args {
    /// Output pcap file.
    out: PathBuf,
    /// Packets to write.
    #[arg(long, default_value_t = 1_000_000)]
    packets: usize,
    /// Distinct clients.
    #[arg(long, default_value_t = 20_000)]
    clients: u32,
    /// Percent of transactions over TCP.
    #[arg(long, default_value_t = 2)]
    tcp_percent: u32,
    /// New transactions per second of packet time.
    #[arg(long, default_value_t = 60_000)]
    rate: u32,
    /// Random seed (same seed, same bytes).
    #[arg(long, default_value_t = 0x5eed)]
    seed: u64,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let cfg = GenConfig {
        packets: a.packets,
        clients: a.clients,
        tcp_percent: a.tcp_percent,
        rate: a.rate,
        seed: a.seed,
        ..GenConfig::default()
    };
    let f = File::create(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let st = write_pcap(&cfg, BufWriter::with_capacity(1 << 20, f))
        .with_context(|| format!("writing {}", a.out.display()))?;
    eprintln!(
        "{}: {} packets, {} bytes, {} UDP and {} TCP transactions",
        a.out.display(),
        st.packets,
        st.bytes,
        st.udp_transactions,
        st.tcp_transactions
    );
    Ok(())
}
