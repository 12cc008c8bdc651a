//! Command line: `mediator [run]`, `init-db`, `prune`, `query`. Every flag is documented here
//! (clap shows these doc comments in `--help`).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::dbconfig::{DbArgs, Resolved, DEFAULT_SQLITE_PATH};
use crate::store::prep::text_from_ms;
use crate::store::{FluxParams, Store, StoreError};

/// Collector of IPFIX (YAF, flowmeter, softflowd, pmacct, routers) into MySQL/MariaDB or an
/// embedded SQLite passive-DNS store.
///
/// With no subcommand, `run` is assumed. Without any input option, `run` listens for IPFIX
/// over TCP on 127.0.0.1:4739 and journals what arrives into the spool directory, from which
/// it loads the database.
#[derive(Debug, Parser)]
#[command(name = "mediator", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
// Parsed once per process: boxing the big variant would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Collect IPFIX from listeners, files and spool directories into the database (default).
    Run(RunArgs),
    /// Create the database and tables (idempotent; also done at every start of `run`).
    InitDb(DbOpts),
    /// Delete raw flow/DNS rows older than a given age; passive-DNS aggregates are kept.
    Prune(PruneArgs),
    /// Answer the analysts' questions from the passive-DNS aggregates.
    Query(QueryArgs),
}

/// Database selection, shared by every subcommand.
#[derive(Debug, Clone, Default, Args)]
pub struct DbOpts {
    #[command(flatten)]
    pub db: DbArgs,
    /// Use the embedded SQLite store at PATH (same as --database-url sqlite:PATH). Without
    /// any database option, SQLite at ./pdns.sqlite3 is used.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["database_url", "mysql_host", "defaults_file"])]
    pub sqlite: Option<PathBuf>,
}

impl DbOpts {
    /// Resolves the database configuration (reads MYSQL_PWD, never logs the password).
    pub fn resolve(&self) -> Result<Resolved, StoreError> {
        let mut db = self.db.clone();
        if let Some(p) = &self.sqlite {
            db.database_url = Some(format!("sqlite:{}", p.display()));
        }
        db.resolve(&|k| std::env::var(k).ok(), Path::new(DEFAULT_SQLITE_PATH))
    }

    /// Opens the store, logging how it was configured.
    pub async fn open(&self) -> anyhow::Result<Store> {
        let r = self.resolve()?;
        for w in &r.warnings {
            tracing::warn!("{w}");
        }
        tracing::info!(database = %r.config, "opening store");
        Ok(Store::open(&r.config).await?)
    }
}

#[derive(Debug, Clone, Default, Args)]
pub struct RunArgs {
    /// Address the TCP (and --udp) listener binds, as yaf_silk_mysql_mediator's --in-host.
    /// The default accepts only local exporters: IPFIX has no authentication, so listening on
    /// all interfaces is an explicit choice (--in-host 0.0.0.0), best paired with a firewall
    /// or a VPN between sensor and collector.
    #[arg(long, value_name = "HOST")]
    pub in_host: Option<String>,
    /// TCP port to listen on for IPFIX, the one `yaf` or `flowmeter --ipfix tcp --out HOST
    /// --ipfix-port PORT` sends to (default IANA port 4739; 0 picks a free port and prints
    /// "listening tcp ADDR" on stdout). The listener runs when --in-host, --in-port or
    /// --udp is given, or when no --in-file/--in-dir input is.
    #[arg(long, value_name = "PORT")]
    pub in_port: Option<u16>,
    /// Also listen for IPFIX over UDP (on --udp-port, default the TCP port).
    #[arg(long)]
    pub udp: bool,
    /// UDP port, when it differs from --in-port.
    #[arg(long, value_name = "PORT")]
    pub udp_port: Option<u16>,
    /// Seconds a UDP exporter may stay silent before its session and templates are forgotten
    /// (RFC 7011 template lifetime); its data is then unreadable until it resends templates.
    /// Keep it above the exporter's template resend interval (YAF's --udp-temp-timeout,
    /// default 600).
    #[arg(long, value_name = "SECS", default_value_t = 1800)]
    pub udp_template_timeout: u64,
    /// Most concurrent TCP sessions (further connections wait in the backlog) and UDP
    /// exporters tracked.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub max_sessions: usize,
    /// Largest IPFIX message accepted from the network (bytes, at most 65535); a session
    /// announcing a longer one is closed.
    #[arg(long, value_name = "BYTES", default_value_t = 65535, value_parser = clap::value_parser!(u16).range(16..))]
    pub max_message_size: u16,
    /// Directory network input is journaled into before it is loaded: each TCP session or UDP
    /// exporter writes IPFIX files here (with a .lock while written, rotated by
    /// --rotate-bytes/--rotate-seconds, like `yaf --rotate --lock`), and the database is
    /// loaded only from these files, so what was received survives a crash of the mediator
    /// or an outage of the database.
    #[arg(long, value_name = "DIR", default_value = "mediator-spool")]
    pub spool_dir: PathBuf,
    /// Rotate a session's journal file at this size (bytes).
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 20)]
    pub rotate_bytes: u64,
    /// Rotate a session's journal file after this many seconds, even if idle; received data
    /// reaches the database about this long after it arrived, at most.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub rotate_seconds: u64,
    /// Stop reading network sessions while this many journal bytes wait to be loaded. Turns a
    /// slow or absent database into TCP back-pressure: exporters block (YAF and flowmeter
    /// then keep their data) instead of the spool filling the disk. 0: no limit (the spool
    /// grows on disk while the database is away).
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 30)]
    pub spool_max_bytes: u64,
    /// IPFIX files to load (YAF .yaf, flowmeter, any RFC 5655 file), like
    /// yaf_silk_mysql_mediator's --in-file but any number of them. Never modified or deleted;
    /// loading the same file again adds nothing (ledger), so retry loops are safe.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub in_file: Vec<PathBuf>,
    /// Spool directory to load, such as the one `yaf --out DIR --rotate SECS --lock` or
    /// `flowmeter --rotate --lock` writes: finished files (no .lock beside them) in name
    /// order, polled for new ones; after loading they are deleted, or moved to --archive-dir.
    #[arg(long, value_name = "DIR")]
    pub in_dir: Option<PathBuf>,
    /// Process what is in --in-dir now, then exit (for cron).
    #[arg(long, requires = "in_dir")]
    pub once: bool,
    /// Seconds between scans of the spool directories.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    pub poll_interval: f64,
    /// Batches of a file committed at once, each in its own transaction and connection
    /// (MySQL/MariaDB; SQLite always commits one at a time). 1 commits strictly in order.
    /// Every batch still commits exactly once, with its ledger row.
    #[arg(long, value_name = "N", default_value_t = crate::store::DEFAULT_PARALLEL_COMMITS as u16,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel_commits: u16,
    /// Write-behind aggregates (MySQL/MariaDB): each batch's pdns_rr and pdns_resolver keys
    /// are committed with its rows as a pdns_pending entry, and applied, merged over many
    /// batches, at the end of every file or when this many distinct keys wait (about 250 B of
    /// memory each). Fewer upserts make long loads faster; every batch is still applied
    /// exactly once, also after a crash (at the next start). 0 applies every batch's keys in
    /// its own transaction.
    #[arg(long, value_name = "KEYS", default_value_t = crate::store::DEFAULT_WRITE_BEHIND_KEYS)]
    pub write_behind_keys: usize,
    /// Move loaded spool files here instead of deleting them.
    #[arg(long, value_name = "DIR")]
    pub archive_dir: Option<PathBuf>,
    /// Where spool files that are not valid IPFIX go, with a <name>.reason file (default
    /// <spool>/error). They are never deleted.
    #[arg(long, value_name = "DIR")]
    pub error_dir: Option<PathBuf>,
    /// Sensor name stored in flows.sensor for flows from --in-file and --in-dir (network
    /// input stores the exporter's address instead).
    #[arg(long, value_name = "NAME", default_value = "")]
    pub sensor: String,
    /// Serve Prometheus metrics on ADDR (e.g. 127.0.0.1:9562) at /metrics; off by default.
    /// `--metrics-listen` is the same flag under the flowmeter's name.
    #[arg(long, value_name = "ADDR", visible_alias = "metrics-listen")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Format of the log on stderr: text, or json (one object per line). The level comes
    /// from RUST_LOG (default info; e.g. RUST_LOG=debug).
    #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    #[command(flatten)]
    pub db: DbOpts,
}

impl RunArgs {
    /// Whether the TCP listener runs (see --in-port).
    pub fn tcp_enabled(&self) -> bool {
        self.in_host.is_some()
            || self.in_port.is_some()
            || self.udp
            || (self.in_file.is_empty() && self.in_dir.is_none())
    }

    pub fn host(&self) -> &str {
        self.in_host.as_deref().unwrap_or("127.0.0.1")
    }

    pub fn port(&self) -> u16 {
        self.in_port.unwrap_or(4739)
    }

    pub fn poll(&self) -> Duration {
        Duration::from_secs_f64(self.poll_interval.clamp(0.01, 3600.0))
    }
}

#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    /// Age of the oldest raw rows kept, e.g. 30d, 12h, 90m, 2w.
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    pub older_than: Duration,
    #[command(flatten)]
    pub db: DbOpts,
}

#[derive(Debug, Clone, Args)]
// Database options may come before or after the question.
#[command(mut_args(|a: clap::Arg| a.global(true)))]
pub struct QueryArgs {
    #[command(subcommand)]
    pub question: Question,
    /// Print JSON (one array of objects) instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// Most rows printed.
    #[arg(long, global = true, default_value_t = 50)]
    pub limit: usize,
    /// Only what was seen within this age (e.g. 7d); default: all time.
    #[arg(long, global = true, value_name = "AGE", value_parser = parse_age)]
    pub since: Option<Duration>,
    #[command(flatten)]
    pub db: DbOpts,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Question {
    /// Which clients looked up NAME.
    WhoResolved {
        /// Domain name, e.g. www.example.com (trailing dot optional).
        #[arg(value_name = "NAME")]
        qname: String,
    },
    /// The addresses (A/AAAA) NAME resolved to, following CNAME chains (the links are listed).
    IpsOf {
        /// Domain name.
        #[arg(value_name = "NAME")]
        qname: String,
    },
    /// Every record of NAME (optionally one type, e.g. --type 5 for CNAME).
    Values {
        /// Domain name.
        #[arg(value_name = "NAME")]
        qname: String,
        /// Only this RR type (number).
        #[arg(long = "type")]
        rrtype: Option<u16>,
    },
    /// Names whose record value is VALUE (an IP address or a target name).
    ByValue {
        /// An address (192.0.2.1, 2001:db8::1) or a target name.
        value: String,
    },
    /// Subdomains of DOMAIN seen answered.
    Subdomains {
        /// Parent domain, e.g. youtube.com.
        domain: String,
    },
    /// First/last seen, answers, clients of NAME.
    FirstSeen {
        /// Domain name.
        #[arg(value_name = "NAME")]
        qname: String,
    },
    /// Names first seen within --since (default 1d).
    NewNames,
    /// Fast-flux candidates: many A/AAAA values, short TTLs.
    FastFlux {
        /// At least this many distinct addresses.
        #[arg(long, default_value_t = 10)]
        min_values: u64,
        /// Smallest TTL at most this.
        #[arg(long, default_value_t = 300)]
        max_ttl: u32,
    },
    /// Top-level domains, rarest first.
    RareTlds,
    /// Clients using DNS resolvers not in --allow.
    Resolvers {
        /// Approved resolvers, comma separated.
        #[arg(long, value_delimiter = ',', value_name = "IP,...")]
        allow: Vec<IpAddr>,
    },
}

/// `30d`, `12h`, `90m`, `45s`, `2w` (a bare number is seconds).
pub fn parse_age(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("bad age {s:?} (e.g. 30d, 12h)"))?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(format!("bad unit in {s:?}: use s, m, h, d or w")),
    };
    n.checked_mul(mult)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("age {s:?} too large"))
}

/// Most CNAME links followed from the asked name: real chains are 1-3 long (CDNs), and the bound
/// keeps a loop in hostile data (a -> b -> a) from running away.
const MAX_CNAME_DEPTH: usize = 8;

/// The A/AAAA records of `name` and of every name it is an alias of, following CNAMEs the way
/// a resolver does: an analyst asking where `upload.wikimedia.org` pointed wants the
/// addresses behind `upload.pmtpa.wikimedia.org`, too. The CNAME links come first in the
/// result so the chain is visible, then the addresses, newest first.
async fn addresses_of(
    store: &crate::store::Store,
    name: &str,
    limit: usize,
) -> Result<Vec<crate::store::RrRecord>, crate::store::StoreError> {
    const A: u16 = 1;
    const CNAME: u16 = 5;
    const AAAA: u16 = 28;
    let mut chain = Vec::new();
    let mut addrs = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut frontier = vec![name.trim_end_matches('.').to_ascii_lowercase()];
    for _ in 0..=MAX_CNAME_DEPTH {
        let mut next = Vec::new();
        for n in frontier {
            if !seen.insert(n.clone()) {
                continue;
            }
            addrs.extend(store.name_values(&n, Some(A), limit).await?);
            addrs.extend(store.name_values(&n, Some(AAAA), limit).await?);
            for c in store.name_values(&n, Some(CNAME), limit).await? {
                next.push(c.rrval.trim_end_matches('.').to_ascii_lowercase());
                chain.push(c);
            }
        }
        if next.is_empty() {
            break;
        }
        frontier = next;
    }
    addrs.sort_by_key(|r| std::cmp::Reverse(r.last_seen));
    chain.extend(addrs);
    chain.truncate(limit);
    Ok(chain)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn since_ms(age: Option<Duration>) -> i64 {
    age.map(|a| now_ms().saturating_sub(a.as_millis() as i64))
        .unwrap_or(0)
}

fn t(ms: i64) -> String {
    text_from_ms(ms).unwrap_or_else(|| ms.to_string())
}

/// A result as a table: header and rows of cells.
pub struct Table {
    pub header: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn render(&self) -> String {
        let mut w: Vec<usize> = self.header.iter().map(|h| h.len()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate() {
                if let Some(x) = w.get_mut(i) {
                    *x = (*x).max(c.chars().count());
                }
            }
        }
        let line = |cells: Vec<String>| -> String {
            cells
                .iter()
                .zip(&w)
                .map(|(c, n)| format!("{c:<n$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        };
        let mut out = line(self.header.iter().map(|s| s.to_string()).collect());
        out.push('\n');
        out.push_str(&line(w.iter().map(|n| "-".repeat(*n)).collect()));
        out.push('\n');
        for r in &self.rows {
            out.push_str(&line(r.clone()));
            out.push('\n');
        }
        out.push_str(&format!("({} rows)\n", self.rows.len()));
        out
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Array(
            self.rows
                .iter()
                .map(|r| {
                    serde_json::Value::Object(
                        self.header
                            .iter()
                            .zip(r)
                            .map(|(h, c)| (h.to_string(), serde_json::Value::String(c.clone())))
                            .collect(),
                    )
                })
                .collect(),
        )
    }
}

/// Runs one analyst question against the store.
pub async fn answer(store: &Store, q: &QueryArgs) -> Result<Table, StoreError> {
    let since = since_ms(q.since);
    let limit = q.limit;
    let rr_table = |v: Vec<crate::store::RrRecord>| Table {
        header: vec![
            "rrname",
            "type",
            "rrval",
            "first_seen",
            "last_seen",
            "count",
            "ttl_min",
            "ttl_max",
        ],
        rows: v
            .into_iter()
            .map(|r| {
                vec![
                    r.rrname,
                    r.rrtype.to_string(),
                    r.rrval,
                    t(r.first_seen),
                    t(r.last_seen),
                    r.count.to_string(),
                    r.ttl_min.to_string(),
                    r.ttl_max.to_string(),
                ]
            })
            .collect(),
    };
    let names_table = |v: Vec<crate::store::NameSeen>| Table {
        header: vec!["rrname", "first_seen", "last_seen", "count"],
        rows: v
            .into_iter()
            .map(|n| {
                vec![
                    n.rrname,
                    t(n.first_seen),
                    t(n.last_seen),
                    n.count.to_string(),
                ]
            })
            .collect(),
    };
    Ok(match &q.question {
        Question::WhoResolved { qname: name } => {
            let v = store.who_resolved(name, since, limit).await?;
            Table {
                header: vec!["client", "rrname", "first_seen", "last_seen", "count"],
                rows: v
                    .into_iter()
                    .map(|c| {
                        vec![
                            c.client.to_string(),
                            c.rrname,
                            t(c.first_seen),
                            t(c.last_seen),
                            c.count.to_string(),
                        ]
                    })
                    .collect(),
            }
        }
        Question::IpsOf { qname: name } => rr_table(addresses_of(store, name, limit).await?),
        Question::Values {
            qname: name,
            rrtype,
        } => rr_table(store.name_values(name, *rrtype, limit).await?),
        Question::ByValue { value } => rr_table(store.by_value(value, limit).await?),
        Question::Subdomains { domain } => names_table(store.subdomains(domain, limit).await?),
        Question::FirstSeen { qname: name } => {
            let s = store.name_summary(name).await?;
            Table {
                header: vec![
                    "rrname",
                    "first_seen",
                    "last_seen",
                    "answers",
                    "distinct_values",
                    "clients",
                    "lookups",
                ],
                rows: s
                    .into_iter()
                    .map(|s| {
                        vec![
                            s.rrname,
                            t(s.first_seen),
                            t(s.last_seen),
                            s.answers.to_string(),
                            s.distinct_values.to_string(),
                            s.clients.to_string(),
                            s.lookups.to_string(),
                        ]
                    })
                    .collect(),
            }
        }
        Question::NewNames => {
            let since = if q.since.is_some() {
                since
            } else {
                now_ms() - 86_400_000
            };
            names_table(store.new_names(since, limit).await?)
        }
        Question::FastFlux {
            min_values,
            max_ttl,
        } => {
            let p = FluxParams {
                since_ms: since,
                min_values: *min_values,
                max_ttl: *max_ttl,
                limit,
                ..FluxParams::default()
            };
            let v = store.fast_flux(&p).await?;
            Table {
                header: vec![
                    "rrname",
                    "values",
                    "prefixes",
                    "ttl_min",
                    "ttl_max",
                    "clients",
                    "first_seen",
                    "last_seen",
                    "score",
                ],
                rows: v
                    .into_iter()
                    .map(|f| {
                        vec![
                            f.rrname,
                            f.values.to_string(),
                            f.prefixes.to_string(),
                            f.ttl_min.to_string(),
                            f.ttl_max.to_string(),
                            f.clients.to_string(),
                            t(f.first_seen),
                            t(f.last_seen),
                            format!("{:.2}", f.score),
                        ]
                    })
                    .collect(),
            }
        }
        Question::RareTlds => {
            let v = store.rare_tlds(since, limit).await?;
            Table {
                header: vec!["tld", "names", "count", "first_seen"],
                rows: v
                    .into_iter()
                    .map(|x| {
                        vec![
                            x.tld,
                            x.names.to_string(),
                            x.count.to_string(),
                            t(x.first_seen),
                        ]
                    })
                    .collect(),
            }
        }
        Question::Resolvers { allow } => {
            let v = store.unapproved_resolvers(allow, since, limit).await?;
            Table {
                header: vec![
                    "client",
                    "resolver",
                    "port",
                    "first_seen",
                    "last_seen",
                    "count",
                ],
                rows: v
                    .into_iter()
                    .map(|r| {
                        vec![
                            r.client.to_string(),
                            r.resolver.to_string(),
                            r.port.to_string(),
                            t(r.first_seen),
                            t(r.last_seen),
                            r.count.to_string(),
                        ]
                    })
                    .collect(),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn ages() {
        assert_eq!(parse_age("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_age("90"), Ok(Duration::from_secs(90)));
        assert!(parse_age("3y").is_err());
        assert!(parse_age("d").is_err());
        assert!(parse_age("99999999999999999999w").is_err());
    }

    #[test]
    fn cli_is_consistent_and_every_flag_documented() {
        Cli::command().debug_assert();
        fn check(cmd: &clap::Command) {
            for a in cmd.get_arguments() {
                if a.get_id() == "help" || a.get_id() == "version" {
                    continue;
                }
                assert!(
                    a.get_help().is_some(),
                    "{} --{} has no help",
                    cmd.get_name(),
                    a.get_id()
                );
            }
            for s in cmd.get_subcommands() {
                check(s);
            }
        }
        check(&Cli::command());
    }

    #[test]
    fn listener_defaults() {
        let c = Cli::try_parse_from(["mediator"]).unwrap();
        assert!(c.command.is_none());
        assert!(c.run.tcp_enabled());
        assert_eq!((c.run.host(), c.run.port()), ("127.0.0.1", 4739));
        let c = Cli::try_parse_from(["mediator", "run", "--in-dir", "x", "--once"]).unwrap();
        let Some(Command::Run(r)) = c.command else {
            panic!()
        };
        assert!(!r.tcp_enabled());
        assert!(Cli::try_parse_from(["mediator", "--once"]).is_err());
        // Database options after the question, and a question argument that is not the
        // compatibility option --name.
        let c = Cli::try_parse_from([
            "mediator",
            "query",
            "ips-of",
            "www.example.com",
            "--database-url",
            "sqlite:/x",
        ])
        .unwrap();
        let Some(Command::Query(q)) = c.command else {
            panic!()
        };
        assert!(q.db.db.name.is_none());
        assert_eq!(q.db.db.database_url.as_deref(), Some("sqlite:/x"));
        assert!(matches!(q.question, Question::IpsOf { qname } if qname == "www.example.com"));
    }
}
