-- Schema version 1 for the embedded SQLite store: the same tables, columns and meanings as
-- templates/sql/mysql/001_initial.sql. Datetimes are TEXT 'YYYY-MM-DD HH:MM:SS.mmm' (UTC),
-- which sorts like the timestamp and prints like MySQL's DATETIME(3); hashes and addresses are
-- BLOBs. Raw names use NOCASE so the old case-insensitive LIKE queries behave as in MySQL.

CREATE TABLE IF NOT EXISTS flows (
  id INTEGER PRIMARY KEY,
  srcip4 INTEGER,
  dstip4 INTEGER,
  srcport INTEGER,
  dstport INTEGER,
  protocol INTEGER,
  vlan INTEGER,
  srcip6 BLOB,
  dstip6 BLOB,
  flowStartMilliseconds TEXT,
  flowEndMilliseconds TEXT,
  octetTotalCount INTEGER,
  reverseOctetTotalCount INTEGER,
  packetTotalCount INTEGER,
  reversePacketTotalCount INTEGER,
  silkAppLabel INTEGER,
  flowEndReason INTEGER,
  ObservationDomain INTEGER,
  flowAttributes INTEGER,
  reverseFlowAttributes INTEGER,
  ingressInterface INTEGER,
  egressInterface INTEGER,
  sensor TEXT
);
CREATE INDEX IF NOT EXISTS flows_start ON flows (flowStartMilliseconds);

CREATE TABLE IF NOT EXISTS dns (
  id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  tid INTEGER,
  qr INTEGER,
  type INTEGER,
  auth INTEGER,
  nx INTEGER,
  section INTEGER,
  ttl INTEGER,
  rrname TEXT COLLATE NOCASE,
  rrval TEXT COLLATE NOCASE,
  rrname_rev TEXT,
  PRIMARY KEY (id, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dns_rrname ON dns (rrname);
CREATE INDEX IF NOT EXISTS dns_rrname_rev ON dns (rrname_rev);
CREATE INDEX IF NOT EXISTS dns_rrval ON dns (rrval);

CREATE TABLE IF NOT EXISTS tcp (
  id INTEGER PRIMARY KEY,
  tcpSequenceNumber INTEGER,
  reverseTcpSequenceNumber INTEGER,
  initialTCPFlags TEXT,
  reverseInitialTCPFlags TEXT,
  unionTCPFlags TEXT,
  reverseUnionTCPFlags TEXT
);

CREATE TABLE IF NOT EXISTS pdns_rr (
  id INTEGER PRIMARY KEY,
  rr_hash BLOB NOT NULL,
  rrname TEXT NOT NULL,
  rrname_rev TEXT NOT NULL,
  rrtype INTEGER NOT NULL,
  rrval TEXT NOT NULL,
  first_seen TEXT NOT NULL,
  last_seen TEXT NOT NULL,
  count INTEGER NOT NULL,
  ttl_min INTEGER NOT NULL,
  ttl_max INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS pdns_rr_hash ON pdns_rr (rr_hash);
CREATE INDEX IF NOT EXISTS pdns_rr_rev ON pdns_rr (rrname_rev);
CREATE INDEX IF NOT EXISTS pdns_rr_val ON pdns_rr (rrval);
CREATE INDEX IF NOT EXISTS pdns_rr_first ON pdns_rr (first_seen);

CREATE TABLE IF NOT EXISTS pdns_client (
  id INTEGER PRIMARY KEY,
  name_hash BLOB NOT NULL,
  client BLOB NOT NULL,
  rrname TEXT NOT NULL,
  rrname_rev TEXT NOT NULL,
  first_seen TEXT NOT NULL,
  last_seen TEXT NOT NULL,
  count INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS pdns_client_key ON pdns_client (name_hash, client);
CREATE INDEX IF NOT EXISTS pdns_client_client ON pdns_client (client);

CREATE TABLE IF NOT EXISTS pdns_resolver (
  client BLOB NOT NULL,
  resolver BLOB NOT NULL,
  port INTEGER NOT NULL,
  first_seen TEXT NOT NULL,
  last_seen TEXT NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (client, resolver, port)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS pdns_resolver_resolver ON pdns_resolver (resolver);

CREATE TABLE IF NOT EXISTS ingest_ledger (
  key_hash BLOB NOT NULL,
  chunk INTEGER NOT NULL,
  source_key TEXT NOT NULL,
  label TEXT NOT NULL,
  flows INTEGER NOT NULL,
  dns_rows INTEGER NOT NULL,
  loaded_at TEXT NOT NULL,
  PRIMARY KEY (key_hash, chunk)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS id_alloc (
  name TEXT NOT NULL PRIMARY KEY,
  next_id INTEGER NOT NULL
);

INSERT OR IGNORE INTO id_alloc (name, next_id) VALUES ('flows', 1);
