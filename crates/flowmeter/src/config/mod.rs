//! Run configuration, independent of how it was given (the clap front end
//! is [`cli`]). The exporter reads [`ExportConfig`].

pub mod cli;

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::capture::live::LiveConfig;
use crate::decode::DefragConfig;
use crate::flow::FlowConfig;

/// What the meter reads.
#[derive(Debug, Clone)]
pub enum InputConfig {
    /// Capture files in order (`-` = stdin).
    Files(Vec<PathBuf>),
    /// A live interface.
    Live(LiveConfig),
}

/// Packet-processing settings.
#[derive(Debug, Clone)]
pub struct MeterConfig {
    pub flow: FlowConfig,
    /// `None` turns reassembly off (fragments other than the first are ignored).
    pub defrag: Option<DefragConfig>,
    /// Seconds between statistics records (`--stats`); 0 = only at exit.
    pub stats_interval_s: u64,
}

impl Default for MeterConfig {
    /// YAF's defaults: reassembly on, statistics every 300 s.
    fn default() -> Self {
        MeterConfig {
            flow: FlowConfig::default(),
            defrag: Some(DefragConfig::default()),
            stats_interval_s: 300,
        }
    }
}

/// How records leave the meter (`--ipfix`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportTransport {
    /// `--out` is a file, a directory with `--rotate`, or `-` for stdout.
    File,
    /// IPFIX over TCP to `--out HOST` `--ipfix-port`.
    Tcp,
    /// IPFIX over UDP to `--out HOST` `--ipfix-port`.
    Udp,
}

/// Everything the IPFIX exporter needs; built from the command line.
#[derive(Debug, Clone)]
pub struct ExportConfig {
    /// `--out`: file, directory/prefix (with `--rotate`), `-`, or host.
    pub out: String,
    pub transport: ExportTransport,
    /// `--ipfix-port` (YAF's default 4739).
    pub port: u16,
    /// `--rotate`: start a new file every this many seconds (packet time),
    /// named `<out>-YYYYMMDDhhmmss-NNNNN.yaf` like YAF.
    pub rotate_s: Option<u64>,
    /// `--lock`: write `F.lock` (O_EXCL) while F is open, as YAF does.
    pub lock: bool,
    /// `--observation-domain` (observationDomainId in every message).
    pub observation_domain: u32,
    /// `--silk`: YAF's SiLK mode (template flag 0x0020, TCP flags in the
    /// flow record itself).
    pub silk: bool,
    /// Seconds between statistics records; 0 = only at exit (`--no-stats`
    /// turns them off entirely: `stats = false`).
    pub stats_interval_s: u64,
    pub stats: bool,
    /// `--spool-dir`: where the TCP exporter buffers while the collector
    /// is unreachable.
    pub spool_dir: Option<PathBuf>,
    /// `--spool-max-bytes`: spool size cap; beyond it the oldest spooled
    /// data is dropped and counted.
    pub spool_max_bytes: u64,
    /// `--metrics-listen`: Prometheus endpoint.
    pub metrics_listen: Option<SocketAddr>,
}

impl ExportConfig {
    /// One IPFIX file at `out` (`-` = stdout) with YAF's defaults: no rotation, no lock,
    /// observation domain 0, statistics records every 300 s and at exit.
    pub fn file(out: impl Into<String>) -> Self {
        ExportConfig {
            out: out.into(),
            transport: ExportTransport::File,
            port: 4739,
            rotate_s: None,
            lock: false,
            observation_domain: 0,
            silk: false,
            stats_interval_s: 300,
            stats: true,
            spool_dir: None,
            spool_max_bytes: 1 << 30,
            metrics_listen: None,
        }
    }
}
