//! Where the store is and how to log in, without ever putting a password on the command line
//! or in a log line.
//!
//! Sources, lowest precedence first (each later one overrides field by field):
//! 1. a MySQL option file (`--defaults-file`): `[client]`, then `[mediator]` (host, port, user,
//!    password, database, socket);
//! 2. `--database-url mysql://user@host:port/db` (or `mysql://user@/db?socket=/path`);
//!    `sqlite:PATH` selects the embedded store instead;
//! 3. the seed mediator's options `--mysql-host --name --pass --database`.
//!
//! The password comes from, in order: `--pass` (accepted for compatibility, with a warning:
//! it is visible in `ps`), a password in the URL (same warning), `MYSQL_PWD`, the option file.
//! With no MySQL setting at all the embedded SQLite store at the default path is used.
//! `Debug`/`Display` of the config never show the password; use `redact_url` for URLs.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::store::StoreError;

/// Bound on an option file's size: it is a small config file, never data.
const MAX_OPTION_FILE: u64 = 1 << 20;

pub const DEFAULT_MYSQL_PORT: u16 = 3306;
pub const DEFAULT_DATABASE: &str = "pdns";
/// Used when nothing names a database: the embedded store in the working directory.
pub const DEFAULT_SQLITE_PATH: &str = "pdns.sqlite3";

/// A password that does not print.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlConfig {
    pub host: String,
    pub port: u16,
    /// Unix socket; used instead of TCP when set.
    pub socket: Option<PathBuf>,
    pub user: String,
    pub password: Option<Secret>,
    pub database: String,
}

impl fmt::Display for MysqlConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.socket {
            Some(s) => write!(
                f,
                "mysql://{}@localhost/{}?socket={}",
                self.user,
                self.database,
                s.display()
            ),
            None => write!(
                f,
                "mysql://{}@{}:{}/{}",
                self.user, self.host, self.port, self.database
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteConfig {
    pub path: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbConfig {
    Mysql(MysqlConfig),
    Sqlite(SqliteConfig),
}

impl fmt::Display for DbConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbConfig::Mysql(m) => m.fmt(f),
            DbConfig::Sqlite(s) => write!(f, "sqlite:{}", s.path.display()),
        }
    }
}

/// The command-line options, ready to `#[command(flatten)]` into the mediator's CLI.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DbArgs {
    /// mysql://USER@HOST:PORT/DB (password via MYSQL_PWD or --defaults-file), or sqlite:PATH
    #[arg(long, env = "MEDIATOR_DATABASE_URL")]
    pub database_url: Option<String>,
    /// MySQL option file with [client]/[mediator] host, port, user, password, database, socket
    #[arg(long)]
    pub defaults_file: Option<PathBuf>,
    /// Compatibility (yaf_silk_mysql_mediator): MySQL host
    #[arg(long)]
    pub mysql_host: Option<String>,
    /// Compatibility: MySQL user name
    #[arg(long)]
    pub name: Option<String>,
    /// Compatibility: MySQL password (visible to other users; prefer MYSQL_PWD)
    #[arg(long)]
    pub pass: Option<String>,
    /// Compatibility: database name
    #[arg(long)]
    pub database: Option<String>,
}

/// A resolved configuration and the warnings to log about how it was given.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub config: DbConfig,
    pub warnings: Vec<String>,
}

impl DbArgs {
    /// Resolves the options; `env` looks up environment variables (only `MYSQL_PWD` is read),
    /// `default_sqlite` is the embedded store used when no MySQL setting is given.
    pub fn resolve(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
        default_sqlite: &Path,
    ) -> Result<Resolved, StoreError> {
        let mut warnings = Vec::new();
        if let Some(url) = &self.database_url {
            if let Some(path) = url.strip_prefix("sqlite:") {
                let path = path.strip_prefix("//").unwrap_or(path);
                if path.is_empty() {
                    return Err(StoreError::Config("sqlite: URL without a path".into()));
                }
                if self.mysql_host.is_some() || self.defaults_file.is_some() {
                    warnings.push("MySQL options ignored: --database-url selects SQLite".into());
                }
                return Ok(Resolved {
                    config: DbConfig::Sqlite(SqliteConfig {
                        path: PathBuf::from(path),
                    }),
                    warnings,
                });
            }
        }
        let any_mysql = self.database_url.is_some()
            || self.defaults_file.is_some()
            || self.mysql_host.is_some()
            || self.name.is_some()
            || self.pass.is_some()
            || self.database.is_some();
        if !any_mysql {
            return Ok(Resolved {
                config: DbConfig::Sqlite(SqliteConfig {
                    path: default_sqlite.to_path_buf(),
                }),
                warnings,
            });
        }

        let mut host: Option<String> = None;
        let mut port: Option<u16> = None;
        let mut socket: Option<PathBuf> = None;
        let mut user: Option<String> = None;
        let mut database: Option<String> = None;
        let mut file_password: Option<String> = None;
        let mut explicit_password: Option<String> = None;

        if let Some(path) = &self.defaults_file {
            let opts = read_option_file(path)?;
            host = opts.get("host").cloned();
            if let Some(p) = opts.get("port") {
                port = Some(p.parse().map_err(|_| {
                    StoreError::Config(format!("{}: bad port {p:?}", path.display()))
                })?);
            }
            socket = opts.get("socket").map(PathBuf::from);
            user = opts.get("user").cloned();
            database = opts.get("database").cloned();
            file_password = opts.get("password").cloned();
        }
        if let Some(url) = &self.database_url {
            let u = parse_mysql_url(url)?;
            if u.password.is_some() {
                warnings.push(
                    "password given in --database-url: it may be visible to other users; use MYSQL_PWD or --defaults-file".into(),
                );
                explicit_password = u.password;
            }
            host = u.host.or(host);
            port = u.port.or(port);
            socket = u.socket.or(socket);
            user = u.user.or(user);
            database = u.database.or(database);
        }
        if let Some(h) = &self.mysql_host {
            host = Some(h.clone());
        }
        if let Some(n) = &self.name {
            user = Some(n.clone());
        }
        if let Some(d) = &self.database {
            database = Some(d.clone());
        }
        if let Some(p) = &self.pass {
            warnings.push(
                "--pass is visible to other users in the process list; use MYSQL_PWD or --defaults-file".into(),
            );
            explicit_password = Some(p.clone());
        }
        let password = explicit_password
            .or_else(|| env("MYSQL_PWD"))
            .or(file_password)
            .map(Secret);
        let database = database.unwrap_or_else(|| DEFAULT_DATABASE.to_string());
        if !valid_identifier(&database) {
            return Err(StoreError::Config(format!(
                "database name {database:?}: use letters, digits, '_' or '$' (at most 64)"
            )));
        }
        Ok(Resolved {
            config: DbConfig::Mysql(MysqlConfig {
                host: host.unwrap_or_else(|| "localhost".to_string()),
                port: port.unwrap_or(DEFAULT_MYSQL_PORT),
                socket,
                user: user.unwrap_or_else(|| "root".to_string()),
                password,
                database,
            }),
            warnings,
        })
    }
}

/// The database name is spliced into `CREATE DATABASE`/`USE` (identifiers cannot be bound as
/// parameters), so it is restricted to unquoted-identifier characters.
pub fn valid_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
}

#[derive(Debug, Default, PartialEq, Eq)]
struct UrlParts {
    user: Option<String>,
    password: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    database: Option<String>,
    socket: Option<PathBuf>,
}

/// `mysql://[user[:password]@][host][:port][/database][?socket=PATH]`, with %-escapes in the
/// user, password and socket.
fn parse_mysql_url(url: &str) -> Result<UrlParts, StoreError> {
    let bad = |why: &str| StoreError::Config(format!("database URL {}: {why}", redact_url(url)));
    let rest = url
        .strip_prefix("mysql://")
        .or_else(|| url.strip_prefix("mariadb://"))
        .ok_or_else(|| bad("expected mysql://, mariadb:// or sqlite:"))?;
    let (rest, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let mut parts = UrlParts::default();
    let (authority, path) = match rest.split_once('/') {
        Some((a, p)) => (a, p),
        None => (rest, ""),
    };
    let hostport = match authority.rsplit_once('@') {
        Some((userinfo, hp)) => {
            let (u, p) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            if !u.is_empty() {
                parts.user = Some(percent_decode(u).ok_or_else(|| bad("bad %-escape"))?);
            }
            if let Some(p) = p {
                parts.password = Some(percent_decode(p).ok_or_else(|| bad("bad %-escape"))?);
            }
            hp
        }
        None => authority,
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
        (h, after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if !host.is_empty() {
        parts.host = Some(host.to_string());
    }
    if let Some(p) = port {
        parts.port = Some(p.parse().map_err(|_| bad("bad port"))?);
    }
    if !path.is_empty() {
        parts.database = Some(path.trim_end_matches('/').to_string());
    }
    if let Some(q) = query {
        for kv in q.split('&') {
            if let Some(v) = kv.strip_prefix("socket=") {
                parts.socket = Some(PathBuf::from(
                    percent_decode(v).ok_or_else(|| bad("bad %-escape"))?,
                ));
            }
        }
    }
    Ok(parts)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The URL with any password replaced by `***`, for logs and error messages.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let after = scheme_end + 3;
    let rest = url.get(after..).unwrap_or("");
    let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = rest.get(..auth_end).unwrap_or("");
    match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => match userinfo.split_once(':') {
            Some((user, _)) => format!(
                "{}{}:***@{}{}",
                url.get(..after).unwrap_or(""),
                user,
                hostport,
                rest.get(auth_end..).unwrap_or("")
            ),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// Reads a MySQL option file's `[client]` then `[mediator]` groups (later wins). Follows the
/// server's syntax: `#`/`;` comments, `key=value` or bare `key`, optional quotes with `\n \t \\
/// \s` escapes inside, `-` and `_` equivalent in keys. `!include` directives are refused rather
/// than silently ignored.
pub fn read_option_file(path: &Path) -> Result<HashMap<String, String>, StoreError> {
    let err = |why: String| StoreError::Config(format!("{}: {why}", path.display()));
    let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
    if meta.len() > MAX_OPTION_FILE {
        return Err(err(format!("larger than {MAX_OPTION_FILE} bytes")));
    }
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    parse_option_text(&text).map_err(err)
}

fn parse_option_text(text: &str) -> Result<HashMap<String, String>, String> {
    let mut groups: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut current: Option<String> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('!') {
            return Err(format!(
                "line {}: include directives are not supported",
                n + 1
            ));
        }
        if let Some(g) = line.strip_prefix('[') {
            let g = g
                .strip_suffix(']')
                .ok_or_else(|| format!("line {}: unclosed group", n + 1))?;
            current = Some(g.trim().to_ascii_lowercase());
            continue;
        }
        let Some(group) = &current else {
            return Err(format!("line {}: option outside a [group]", n + 1));
        };
        let (k, v) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), unquote(v.trim())),
            None => (line, String::new()),
        };
        let key = k.to_ascii_lowercase().replace('-', "_");
        groups.entry(group.clone()).or_default().insert(key, v);
    }
    let mut out = HashMap::new();
    for g in ["client", "mediator"] {
        if let Some(m) = groups.remove(g) {
            out.extend(m);
        }
    }
    Ok(out)
}

fn unquote(v: &str) -> String {
    let quoted = (v.starts_with('"') && v.ends_with('"')
        || v.starts_with('\'') && v.ends_with('\''))
        && v.len() >= 2;
    if !quoted {
        // An unquoted value ends at a comment.
        let v = match v.find(" #") {
            Some(i) => v.get(..i).unwrap_or(v).trim_end(),
            None => v,
        };
        return v.to_string();
    }
    let inner = v.get(1..v.len() - 1).unwrap_or("");
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('s') => out.push(' '),
                Some('b') => out.push('\u{8}'),
                Some('r') => out.push('\r'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn mysql(r: &Resolved) -> &MysqlConfig {
        match &r.config {
            DbConfig::Mysql(m) => m,
            DbConfig::Sqlite(_) => panic!("expected mysql"),
        }
    }

    #[test]
    fn default_is_sqlite() {
        let r = DbArgs::default()
            .resolve(&no_env, Path::new("/var/lib/x.db"))
            .unwrap();
        assert_eq!(
            r.config,
            DbConfig::Sqlite(SqliteConfig {
                path: "/var/lib/x.db".into()
            })
        );
    }

    #[test]
    fn sqlite_url() {
        let a = DbArgs {
            database_url: Some("sqlite:/tmp/p.db".into()),
            ..Default::default()
        };
        let r = a.resolve(&no_env, Path::new("d")).unwrap();
        assert_eq!(r.config.to_string(), "sqlite:/tmp/p.db");
        let a = DbArgs {
            database_url: Some("sqlite:".into()),
            ..Default::default()
        };
        assert!(a.resolve(&no_env, Path::new("d")).is_err());
    }

    #[test]
    fn url_with_env_password() {
        let a = DbArgs {
            database_url: Some("mysql://pdns@db.example:3307/flows".into()),
            ..Default::default()
        };
        let env = |k: &str| (k == "MYSQL_PWD").then(|| "s3cret".to_string());
        let r = a.resolve(&env, Path::new("d")).unwrap();
        let m = mysql(&r);
        assert_eq!(m.host, "db.example");
        assert_eq!(m.port, 3307);
        assert_eq!(m.user, "pdns");
        assert_eq!(m.database, "flows");
        assert_eq!(m.password.as_ref().map(Secret::expose), Some("s3cret"));
        assert!(r.warnings.is_empty());
        // Neither Debug nor Display leaks it.
        assert!(!format!("{m:?} {m}").contains("s3cret"));
    }

    #[test]
    fn url_password_warns_and_is_redacted() {
        let url = "mysql://u:p%40ss@h/db";
        let a = DbArgs {
            database_url: Some(url.into()),
            ..Default::default()
        };
        let r = a.resolve(&no_env, Path::new("d")).unwrap();
        assert_eq!(
            mysql(&r).password.as_ref().map(Secret::expose),
            Some("p@ss")
        );
        assert_eq!(r.warnings.len(), 1);
        assert_eq!(redact_url(url), "mysql://u:***@h/db");
        assert_eq!(redact_url("mysql://u@h/db"), "mysql://u@h/db");
    }

    #[test]
    fn url_socket_and_ipv6() {
        let p = parse_mysql_url("mysql://root@/pdns?socket=%2Frun%2Fmysqld.sock").unwrap();
        assert_eq!(p.socket, Some(PathBuf::from("/run/mysqld.sock")));
        assert_eq!(p.host, None);
        let p = parse_mysql_url("mysql://root@[::1]:3310/x").unwrap();
        assert_eq!(p.host.as_deref(), Some("::1"));
        assert_eq!(p.port, Some(3310));
        assert!(parse_mysql_url("postgres://x").is_err());
        assert!(parse_mysql_url("mysql://h:notaport/x").is_err());
    }

    #[test]
    fn option_file_groups_and_quotes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("my.cnf");
        std::fs::write(
            &path,
            "# comment\n[client]\nhost = dbhost\nuser=client_user\npassword=\"a b\\tc\"\n\
             [mysqld]\nport=1\n[mediator]\nuser = med\ndatabase=pdns2\nport=3310\nsocket='/s'\n",
        )
        .unwrap();
        let a = DbArgs {
            defaults_file: Some(path),
            ..Default::default()
        };
        let env = |k: &str| (k == "MYSQL_PWD").then(|| "fromenv".to_string());
        let r = a.resolve(&env, Path::new("d")).unwrap();
        let m = mysql(&r);
        assert_eq!(m.host, "dbhost");
        assert_eq!(m.user, "med");
        assert_eq!(m.database, "pdns2");
        assert_eq!(m.port, 3310);
        assert_eq!(m.socket, Some(PathBuf::from("/s")));
        // MYSQL_PWD wins over the file.
        assert_eq!(m.password.as_ref().map(Secret::expose), Some("fromenv"));
        let r = a.resolve(&no_env, Path::new("d")).unwrap();
        assert_eq!(
            mysql(&r).password.as_ref().map(Secret::expose),
            Some("a b\tc")
        );
    }

    #[test]
    fn option_file_errors() {
        assert!(parse_option_text("host=x\n").is_err());
        assert!(parse_option_text("!include /etc/x\n").is_err());
        assert!(parse_option_text("[client\n").is_err());
    }

    #[test]
    fn compat_options_override_and_warn() {
        let a = DbArgs {
            database_url: Some("mysql://u@h/db".into()),
            mysql_host: Some("other".into()),
            name: Some("seed".into()),
            pass: Some("pw".into()),
            database: Some("yafdb".into()),
            ..Default::default()
        };
        let r = a.resolve(&no_env, Path::new("d")).unwrap();
        let m = mysql(&r);
        assert_eq!(
            (m.host.as_str(), m.user.as_str(), m.database.as_str()),
            ("other", "seed", "yafdb")
        );
        assert_eq!(m.password.as_ref().map(Secret::expose), Some("pw"));
        assert!(r.warnings.iter().any(|w| w.contains("--pass")));
    }

    #[test]
    fn database_name_is_checked() {
        let a = DbArgs {
            database: Some("x`; DROP".into()),
            ..Default::default()
        };
        assert!(a.resolve(&no_env, Path::new("d")).is_err());
    }
}
