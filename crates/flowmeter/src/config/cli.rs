//! Command line. Flag names follow YAF 2.x wherever the meaning is the same,
//! so existing `yaf` command lines keep working.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser, ValueEnum};

use super::{ExportConfig, ExportTransport, InputConfig, MeterConfig};
use crate::capture::live::LiveConfig;
use crate::decode::DefragConfig;
use crate::dpi::DpiConfig;
use crate::export::{udp, SinkOptions};
use crate::flow::FlowConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LiveKind {
    /// libpcap
    Pcap,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IpfixProto {
    Tcp,
    Udp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Error,
    #[value(alias = "warning")]
    Warn,
    #[value(alias = "message")]
    Info,
    Debug,
    Trace,
}

/// Flow meter with built-in DNS deep-packet inspection; a drop-in
/// replacement for `yaf --applabel --plugin-name=dpacketplugin.so`.
///
/// Reads packets from capture files or a live interface, assembles
/// bidirectional flows (RFC 5103) and exports them as IPFIX with YAF 2.16's
/// templates, so super_mediator, SiLK's rwflowpack and yaf_silk_mysql_mediator
/// read them unchanged.
///
/// Examples:
///   flowmeter --in capture.pcap --out flows.yaf
///   flowmeter --live pcap --in eth0 --out /var/spool/flows/dns --rotate 300 --lock
///   flowmeter --live pcap --in eth0 --filter 'port 53' --ipfix tcp --out collector --ipfix-port 18000
#[derive(Debug, Clone, Parser)]
#[command(name = "flowmeter", version, verbatim_doc_comment)]
pub struct Args {
    // ---- Input ----
    /// Input: capture file(s) (pcap or pcapng, any mix; '-' = stdin), read in
    /// order as one stream; or with --live, the interface name.
    #[arg(long = "in", value_name = "INPUT", num_args = 1.., action = ArgAction::Append,
          required = true, help_heading = "Input")]
    pub inputs: Vec<String>,

    /// Capture live from the interface given by --in (only 'pcap' = libpcap).
    #[arg(long, value_enum, value_name = "TYPE", help_heading = "Input")]
    pub live: Option<LiveKind>,

    /// BPF filter applied to live capture (tcpdump syntax).
    #[arg(long, value_name = "BPF", help_heading = "Input")]
    pub filter: Option<String>,

    /// Do not put the interface in promiscuous mode.
    #[arg(long, help_heading = "Input")]
    pub promisc_off: bool,

    /// Bytes captured per packet in live capture.
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = 65535,
        help_heading = "Input"
    )]
    pub snaplen: u32,

    /// After opening the interface, drop privileges to this user.
    #[arg(long, value_name = "USER", help_heading = "Input")]
    pub become_user: Option<String>,

    /// After opening the interface, drop privileges to this group (default:
    /// the --become-user's primary group).
    #[arg(long, value_name = "GROUP", help_heading = "Input")]
    pub become_group: Option<String>,

    /// Do not reassemble IP fragments (non-first fragments are ignored).
    #[arg(long, help_heading = "Input")]
    pub no_frag: bool,

    /// Most IP datagrams reassembled at once.
    #[arg(long, value_name = "N", default_value_t = 4096, help_heading = "Input")]
    pub max_frags: usize,

    // ---- Flows ----
    /// End a flow after this many seconds without packets (packet time).
    #[arg(
        long,
        value_name = "SEC",
        default_value_t = 300,
        help_heading = "Flows"
    )]
    pub idle_timeout: u64,

    /// End a flow after it has lasted this many seconds; the next packet
    /// starts a new record (marked flowEndReason | 0x80 with --silk) (packet time).
    #[arg(
        long,
        value_name = "SEC",
        default_value_t = 1800,
        help_heading = "Flows"
    )]
    pub active_timeout: u64,

    /// Most flows held at once; when full, the least recently active flow
    /// is exported with flowEndReason 5 (resource). 0 = YAF's "unlimited",
    /// which here means 16,000,000.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1_000_000,
        help_heading = "Flows"
    )]
    pub max_flows: usize,

    /// Flows on different VLANs with the same addresses and ports are one flow.
    #[arg(long, help_heading = "Flows")]
    pub no_vlan_in_key: bool,

    // ---- DNS inspection ----
    /// Bytes of each DNS message inspected (UDP datagram or TCP message).
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = 4096,
        help_heading = "DNS inspection"
    )]
    pub max_payload: usize,

    /// Most DNS records exported per flow.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 256,
        help_heading = "DNS inspection"
    )]
    pub max_dns_records: usize,

    /// Extra ports to treat as DNS (comma-separated), besides 53, 5353
    /// (mDNS) and 5355 (LLMNR). DNS on any port is found by payload anyway;
    /// on these ports damaged messages are still counted as DNS.
    #[arg(
        long,
        value_name = "PORTS",
        value_delimiter = ',',
        help_heading = "DNS inspection"
    )]
    pub dns_ports: Vec<u16>,

    /// Inspect DNS exactly like YAF: only the first UDP packet and first TCP
    /// message per direction (default: every message in the flow).
    #[arg(long, help_heading = "DNS inspection")]
    pub yaf_compat: bool,

    /// Turn DNS inspection off (flows only, silkAppLabel 0).
    #[arg(long, help_heading = "DNS inspection")]
    pub no_dpi: bool,

    /// YAF compatibility: accepted; application labelling is built in.
    #[arg(long, help_heading = "DNS inspection")]
    pub applabel: bool,

    /// YAF compatibility: accepted and ignored (DNS inspection is built in).
    #[arg(long, value_name = "LIB", help_heading = "DNS inspection")]
    pub plugin_name: Option<String>,

    /// YAF compatibility: accepted and ignored.
    #[arg(long, value_name = "OPTS", help_heading = "DNS inspection")]
    pub plugin_opts: Option<String>,

    /// YAF compatibility: accepted and ignored.
    #[arg(long, value_name = "FILE", help_heading = "DNS inspection")]
    pub plugin_conf: Option<String>,

    // ---- Output ----
    /// Output: a file ('-' = stdout), a file prefix with --rotate, or the
    /// collector host with --ipfix.
    #[arg(long, value_name = "OUTPUT", help_heading = "Output")]
    pub out: Option<String>,

    /// Send IPFIX over this transport to --out HOST instead of writing a file.
    #[arg(long, value_enum, value_name = "PROTOCOL", help_heading = "Output")]
    pub ipfix: Option<IpfixProto>,

    /// Collector port for --ipfix.
    #[arg(
        long,
        value_name = "PORT",
        default_value_t = 4739,
        help_heading = "Output"
    )]
    pub ipfix_port: u16,

    /// Start a new output file every SEC seconds: <OUTPUT>-YYYYMMDDhhmmss-NNNNN.yaf.
    #[arg(long, value_name = "SEC", help_heading = "Output")]
    pub rotate: Option<u64>,

    /// Create OUTPUT.lock while each output file is being written.
    #[arg(long, help_heading = "Output")]
    pub lock: bool,

    /// Print one line per flow on stdout instead of exporting (inspection aid).
    #[arg(long, conflicts_with = "out", help_heading = "Output")]
    pub print_flows: bool,

    /// Observation domain id put in every IPFIX message.
    #[arg(long, value_name = "ID", default_value_t = 0, help_heading = "Output")]
    pub observation_domain: u32,

    /// SiLK mode, as YAF's --silk: TCP flags and sequence numbers in the
    /// flow record itself (templates 0xB020/0xB030/...), and records that
    /// continue a flow cut by the active timeout marked flowEndReason|0x80.
    #[arg(long, help_heading = "Output")]
    pub silk: bool,

    /// Seconds between statistics (options) records.
    #[arg(
        long,
        value_name = "SEC",
        default_value_t = 300,
        help_heading = "Output"
    )]
    pub stats: u64,

    /// Do not export statistics records.
    #[arg(long, help_heading = "Output")]
    pub no_stats: bool,

    /// Directory where IPFIX-over-TCP output is buffered while the collector
    /// is unreachable, then replayed.
    #[arg(long, value_name = "DIR", help_heading = "Output")]
    pub spool_dir: Option<PathBuf>,

    /// Cap on the spool directory's size; the oldest spooled data is
    /// dropped (and counted) beyond it.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 30, help_heading = "Output")]
    pub spool_max_bytes: u64,

    /// --ipfix udp: the collector's template timeout in seconds; templates
    /// are sent again three times within it (every SEC/3 seconds), as YAF does.
    #[arg(
        long,
        value_name = "SEC",
        default_value_t = 600,
        help_heading = "Output"
    )]
    pub udp_temp_timeout: u64,

    /// --ipfix tcp: after a lost connection, send the last BYTES of data
    /// again on the new one, so a collector that crashed loses nothing (it
    /// may see up to BYTES twice). 0 = off: exactly once across clean
    /// collector restarts, but a crash loses what was in flight.
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = 0,
        help_heading = "Output"
    )]
    pub tcp_replay_window: u64,

    // ---- Logging and monitoring ----
    /// Log level (YAF's names error, warning, message, info, debug work too).
    #[arg(long, alias = "loglevel", value_enum, default_value_t = LogLevel::Warn,
          help_heading = "Logging")]
    pub log_level: LogLevel,

    /// More logging (-v info, -vv debug, -vvv trace).
    #[arg(short, long, action = ArgAction::Count, help_heading = "Logging")]
    pub verbose: u8,

    /// Serve Prometheus metrics on this address (e.g. 127.0.0.1:9800).
    #[arg(
        long,
        value_name = "ADDR",
        visible_alias = "metrics-addr",
        help_heading = "Logging"
    )]
    pub metrics_listen: Option<SocketAddr>,
}

/// A command line that parses but cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArgsError {
    #[error("--live takes exactly one interface in --in, got {0}")]
    LiveInputs(usize),
    #[error("--filter, --become-user and --become-group need --live")]
    NeedsLive,
    #[error("--ipfix needs --out HOST")]
    IpfixNeedsHost,
    #[error("--rotate and --lock apply to file output, not --ipfix")]
    FileOptionWithIpfix,
    #[error("--rotate needs --out (a file prefix)")]
    RotateNeedsOut,
    #[error("{0} must be greater than 0")]
    Zero(&'static str),
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub input: InputConfig,
    pub meter: MeterConfig,
    pub export: Option<ExportConfig>,
    pub become_user: Option<String>,
    pub become_group: Option<String>,
}

impl Args {
    /// Effective log level (-v raises --log-level).
    pub fn effective_log_level(&self) -> LogLevel {
        let lv = [
            LogLevel::Error,
            LogLevel::Warn,
            LogLevel::Info,
            LogLevel::Debug,
            LogLevel::Trace,
        ];
        let base = lv.iter().position(|l| *l == self.log_level).unwrap_or(1);
        lv[(base + usize::from(self.verbose)).min(lv.len() - 1)]
    }

    /// Check combinations and build the run configuration.
    pub fn to_config(&self) -> Result<RunConfig, ArgsError> {
        if self.idle_timeout == 0 {
            return Err(ArgsError::Zero("--idle-timeout"));
        }
        if self.active_timeout == 0 {
            return Err(ArgsError::Zero("--active-timeout"));
        }
        if self.max_payload == 0 && !self.no_dpi {
            return Err(ArgsError::Zero("--max-payload"));
        }
        if self.udp_temp_timeout == 0 {
            return Err(ArgsError::Zero("--udp-temp-timeout"));
        }
        let input = match self.live {
            Some(LiveKind::Pcap) => {
                if self.inputs.len() != 1 {
                    return Err(ArgsError::LiveInputs(self.inputs.len()));
                }
                InputConfig::Live(LiveConfig {
                    iface: self.inputs[0].clone(),
                    filter: self.filter.clone(),
                    promisc: !self.promisc_off,
                    snaplen: self.snaplen,
                    timeout_ms: 250,
                })
            }
            None => {
                if self.filter.is_some()
                    || self.become_user.is_some()
                    || self.become_group.is_some()
                {
                    return Err(ArgsError::NeedsLive);
                }
                InputConfig::Files(self.inputs.iter().map(PathBuf::from).collect())
            }
        };
        let dpi = (!self.no_dpi).then(|| DpiConfig {
            max_payload: self.max_payload,
            max_records_per_flow: self.max_dns_records,
            dns_ports: self.dns_ports.clone(),
            yaf_compat: self.yaf_compat,
        });
        let meter = MeterConfig {
            flow: FlowConfig {
                idle_timeout_ns: self.idle_timeout.saturating_mul(1_000_000_000),
                active_timeout_ns: self.active_timeout.saturating_mul(1_000_000_000),
                max_flows: if self.max_flows == 0 {
                    16_000_000
                } else {
                    self.max_flows
                },
                vlan_in_key: !self.no_vlan_in_key,
                mark_continuation: self.silk,
                dpi,
            },
            defrag: (!self.no_frag).then(|| DefragConfig {
                max_datagrams: self.max_frags.max(1),
                ..DefragConfig::default()
            }),
            stats_interval_s: self.stats,
        };
        let export = match (&self.out, self.ipfix) {
            (None, Some(_)) => return Err(ArgsError::IpfixNeedsHost),
            (None, None) => {
                if self.rotate.is_some() {
                    return Err(ArgsError::RotateNeedsOut);
                }
                None
            }
            (Some(out), proto) => {
                if proto.is_some() && (self.rotate.is_some() || self.lock) {
                    return Err(ArgsError::FileOptionWithIpfix);
                }
                if self.rotate == Some(0) {
                    return Err(ArgsError::Zero("--rotate"));
                }
                Some(ExportConfig {
                    out: out.clone(),
                    transport: match proto {
                        None => ExportTransport::File,
                        Some(IpfixProto::Tcp) => ExportTransport::Tcp,
                        Some(IpfixProto::Udp) => ExportTransport::Udp,
                    },
                    port: self.ipfix_port,
                    rotate_s: self.rotate,
                    lock: self.lock,
                    observation_domain: self.observation_domain,
                    silk: self.silk,
                    stats_interval_s: self.stats,
                    stats: !self.no_stats,
                    spool_dir: self.spool_dir.clone(),
                    spool_max_bytes: self.spool_max_bytes,
                    metrics_listen: self.metrics_listen,
                })
            }
        };
        Ok(RunConfig {
            input,
            meter,
            export,
            become_user: self.become_user.clone(),
            become_group: self.become_group.clone(),
        })
    }

    /// Exporter settings that come from the command line beyond [`ExportConfig`].
    pub fn sink_options(&self) -> SinkOptions {
        SinkOptions {
            // YAF exports DNSSEC records only with --plugin-opts="53 DNSSEC".
            dnssec: self
                .plugin_opts
                .as_deref()
                .is_some_and(|o| o.contains("DNSSEC")),
            udp_template_refresh: udp::refresh_interval(Duration::from_secs(self.udp_temp_timeout)),
            tcp_replay_window: self.tcp_replay_window,
            ..SinkOptions::default()
        }
    }

    /// Notes for YAF options that are accepted for compatibility only.
    pub fn compat_notes(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.applabel {
            v.push("--applabel: application labelling is always on (DNS by payload)");
        }
        if self.plugin_name.is_some() || self.plugin_opts.is_some() || self.plugin_conf.is_some() {
            v.push("--plugin-name/--plugin-opts/--plugin-conf ignored: DNS deep-packet inspection is built in");
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("flowmeter").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn yaf_command_line_from_the_corpus_readme_parses() {
        let a = parse(&[
            "--in",
            "x.pcap",
            "--out",
            "x.yaf",
            "--applabel",
            "--max-payload=2048",
            "--plugin-name=dpacketplugin.so",
            "--plugin-opts=53",
        ]);
        let c = a.to_config().unwrap();
        assert!(matches!(&c.input, InputConfig::Files(f) if f == &[PathBuf::from("x.pcap")]));
        assert_eq!(c.meter.flow.dpi.as_ref().unwrap().max_payload, 2048);
        assert_eq!(c.meter.flow.idle_timeout_ns, 300_000_000_000);
        assert_eq!(c.meter.flow.active_timeout_ns, 1_800_000_000_000);
        let e = c.export.unwrap();
        assert_eq!(e.transport, ExportTransport::File);
        assert_eq!(e.port, 4739);
        assert_eq!(a.compat_notes().len(), 2);
    }

    #[test]
    fn several_inputs_in_order_and_live_rules() {
        let a = parse(&["--in", "a.pcap", "b.pcapng", "--in", "-"]);
        assert_eq!(a.inputs, ["a.pcap", "b.pcapng", "-"]);
        let a = parse(&[
            "--live",
            "pcap",
            "--in",
            "eth0",
            "--filter",
            "udp port 53",
            "--promisc-off",
            "--become-user",
            "nobody",
            "--ipfix",
            "tcp",
            "--out",
            "collector",
            "--ipfix-port",
            "18000",
        ]);
        let c = a.to_config().unwrap();
        match c.input {
            InputConfig::Live(l) => {
                assert_eq!(l.iface, "eth0");
                assert!(!l.promisc);
                assert_eq!(l.filter.as_deref(), Some("udp port 53"));
            }
            InputConfig::Files(_) => panic!("expected live"),
        }
        assert_eq!(c.export.unwrap().transport, ExportTransport::Tcp);
        assert_eq!(
            parse(&["--live", "pcap", "--in", "a", "b"])
                .to_config()
                .unwrap_err(),
            ArgsError::LiveInputs(2)
        );
        assert_eq!(
            parse(&["--in", "a", "--filter", "udp"])
                .to_config()
                .unwrap_err(),
            ArgsError::NeedsLive
        );
        assert_eq!(
            parse(&["--in", "a", "--ipfix", "udp"])
                .to_config()
                .unwrap_err(),
            ArgsError::IpfixNeedsHost
        );
        assert_eq!(
            parse(&["--in", "a", "--ipfix", "udp", "--out", "h", "--lock"])
                .to_config()
                .unwrap_err(),
            ArgsError::FileOptionWithIpfix
        );
    }

    #[test]
    fn dns_ports_log_levels_and_zero_checks() {
        let a = parse(&[
            "--in",
            "a",
            "--dns-ports",
            "5300,8053",
            "--loglevel",
            "message",
            "-v",
        ]);
        assert_eq!(a.dns_ports, [5300, 8053]);
        assert_eq!(a.effective_log_level(), LogLevel::Debug);
        assert_eq!(
            parse(&["--in", "a", "--idle-timeout", "0"])
                .to_config()
                .unwrap_err(),
            ArgsError::Zero("--idle-timeout")
        );
        let c = parse(&["--in", "a", "--max-flows", "0", "--no-frag"])
            .to_config()
            .unwrap();
        assert_eq!(c.meter.flow.max_flows, 16_000_000);
        assert!(c.meter.defrag.is_none());
    }

    #[test]
    fn udp_template_timeout_and_tcp_replay_window() {
        let d = parse(&["--in", "a", "--out", "h", "--ipfix", "udp"]).sink_options();
        // YAF's default timeout 600 s: templates every 200 s.
        assert_eq!(d.udp_template_refresh, Duration::from_secs(200));
        assert_eq!(d.tcp_replay_window, 0);
        assert!(!d.dnssec);
        let a = parse(&[
            "--in",
            "a",
            "--out",
            "h",
            "--ipfix",
            "udp",
            "--udp-temp-timeout",
            "30",
            "--tcp-replay-window=65536",
            "--plugin-opts=53 DNSSEC",
        ]);
        let o = a.sink_options();
        assert_eq!(o.udp_template_refresh, Duration::from_secs(10));
        assert_eq!(o.tcp_replay_window, 65_536);
        assert!(o.dnssec);
        assert_eq!(
            parse(&["--in", "a", "--udp-temp-timeout", "0"])
                .to_config()
                .unwrap_err(),
            ArgsError::Zero("--udp-temp-timeout")
        );
    }

    #[test]
    fn silk_marks_continuations_and_selects_the_silk_layout() {
        let c = parse(&["--in", "a", "--out", "x.yaf", "--silk"])
            .to_config()
            .unwrap();
        assert!(c.meter.flow.mark_continuation);
        assert!(c.export.unwrap().silk);
        let c = parse(&["--in", "a", "--out", "x.yaf"]).to_config().unwrap();
        assert!(!c.meter.flow.mark_continuation);
        assert!(!c.export.unwrap().silk);
    }

    #[test]
    fn help_renders() {
        use clap::CommandFactory;
        let h = Args::command().render_long_help().to_string();
        for flag in [
            "--in",
            "--live",
            "--idle-timeout",
            "--ipfix-port",
            "--plugin-name",
            "--rotate",
            "--udp-temp-timeout",
            "--tcp-replay-window",
            "--silk",
        ] {
            assert!(h.contains(flag), "{flag} missing from --help");
        }
    }
}
