-- Schema version 1 for MySQL/MariaDB (applied by `mediator init-db` / Store::init).
-- Statements are separated by a line ending in ';'. Everything is IF NOT EXISTS so a partial
-- earlier run is completed, never duplicated.
--
-- `flows`, `dns` and `tcp` keep yaf_silk_mysql_mediator 1.4.1's column names and meanings, so
-- its users' queries run unchanged; additions are marked NEW. Differences in type: datetimes
-- carry milliseconds (DATETIME(3)), interfaces are INT UNSIGNED (IPFIX ingressInterface is 32
-- bits; the old MEDIUMINT overflowed), names and values are VARCHAR(1024) utf8mb4 (old: 256
-- latin1). flows.id is assigned by the loader from `id_alloc` (see store/mysql.rs) because ids
-- of a multi-row insert are not consecutive under innodb_autoinc_lock_mode=2; it stays
-- AUTO_INCREMENT so that old tools that insert without an id still work.

CREATE TABLE IF NOT EXISTS flows (
  id BIGINT NOT NULL AUTO_INCREMENT,
  srcip4 INT UNSIGNED DEFAULT NULL,
  dstip4 INT UNSIGNED DEFAULT NULL,
  srcport MEDIUMINT UNSIGNED DEFAULT NULL,
  dstport MEDIUMINT UNSIGNED DEFAULT NULL,
  protocol TINYINT UNSIGNED DEFAULT NULL,
  vlan MEDIUMINT UNSIGNED DEFAULT NULL,
  srcip6 BINARY(16) DEFAULT NULL,
  dstip6 BINARY(16) DEFAULT NULL,
  flowStartMilliseconds DATETIME(3) DEFAULT NULL,
  flowEndMilliseconds DATETIME(3) DEFAULT NULL,
  octetTotalCount BIGINT UNSIGNED DEFAULT NULL,
  reverseOctetTotalCount BIGINT UNSIGNED DEFAULT NULL,
  packetTotalCount BIGINT UNSIGNED DEFAULT NULL,
  reversePacketTotalCount BIGINT UNSIGNED DEFAULT NULL,
  silkAppLabel MEDIUMINT UNSIGNED DEFAULT NULL,
  flowEndReason TINYINT UNSIGNED DEFAULT NULL,
  ObservationDomain INT UNSIGNED DEFAULT NULL,
  flowAttributes MEDIUMINT DEFAULT NULL,
  reverseFlowAttributes MEDIUMINT DEFAULT NULL,
  ingressInterface INT UNSIGNED DEFAULT NULL,
  egressInterface INT UNSIGNED DEFAULT NULL,
  sensor VARCHAR(255) DEFAULT NULL,                         -- NEW: exporter name or address
  PRIMARY KEY (id),
  -- Time only (prune, time-fenced joins); "which client" questions go to pdns_client and
  -- pdns_resolver, so per-address indexes would only slow every load.
  KEY flows_start (flowStartMilliseconds)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS dns (
  id BIGINT NOT NULL,                                       -- = flows.id
  seq SMALLINT UNSIGNED NOT NULL,                           -- NEW: position in the flow
  tid MEDIUMINT UNSIGNED DEFAULT NULL,                      -- DNS transaction id
  qr TINYINT UNSIGNED DEFAULT NULL,
  type MEDIUMINT UNSIGNED DEFAULT NULL,
  auth TINYINT UNSIGNED DEFAULT NULL,
  nx TINYINT UNSIGNED DEFAULT NULL,                         -- full rcode, as before
  section TINYINT UNSIGNED DEFAULT NULL,
  ttl INT UNSIGNED DEFAULT NULL,
  rrname VARCHAR(1024) DEFAULT NULL,
  rrval VARCHAR(1024) DEFAULT NULL,
  rrname_rev VARCHAR(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin DEFAULT NULL,  -- NEW
  PRIMARY KEY (id, seq),
  KEY dns_rrname (rrname(255)),
  KEY dns_rrname_rev (rrname_rev(255)),
  KEY dns_rrval (rrval(255))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS tcp (
  id BIGINT NOT NULL,
  tcpSequenceNumber INT UNSIGNED DEFAULT NULL,
  reverseTcpSequenceNumber INT UNSIGNED DEFAULT NULL,
  initialTCPFlags VARCHAR(10) DEFAULT NULL,
  reverseInitialTCPFlags VARCHAR(10) DEFAULT NULL,
  unionTCPFlags VARCHAR(10) DEFAULT NULL,
  reverseUnionTCPFlags VARCHAR(10) DEFAULT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Passive-DNS aggregates, updated in the same transaction as the raw rows. Names are stored
-- lower-cased, compared byte-wise (utf8mb4_bin) so the reversed-name range scan is exact.
CREATE TABLE IF NOT EXISTS pdns_rr (
  -- Surrogate key: rows append to the clustered index; the random hash lives in a small
  -- unique index that stays in the buffer pool (a hash primary key made every insert a random
  -- write into a table larger than memory).
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  rr_hash BINARY(16) NOT NULL,                              -- sha256(name, type, value)[0..16]
  rrname VARCHAR(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  rrname_rev VARCHAR(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  rrtype SMALLINT UNSIGNED NOT NULL,
  rrval VARCHAR(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  first_seen DATETIME(3) NOT NULL,
  last_seen DATETIME(3) NOT NULL,
  count BIGINT UNSIGNED NOT NULL,
  ttl_min INT UNSIGNED NOT NULL,
  ttl_max INT UNSIGNED NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY pdns_rr_hash (rr_hash),
  -- Exact names are looked up as exact reversed names, so one index serves both.
  KEY pdns_rr_rev (rrname_rev(255)),
  KEY pdns_rr_val (rrval(255)),
  KEY pdns_rr_first (first_seen)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS pdns_client (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  name_hash BINARY(16) NOT NULL,                            -- sha256(name)[0..16]
  client VARBINARY(16) NOT NULL,                            -- 4 bytes IPv4, 16 bytes IPv6
  rrname VARCHAR(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  rrname_rev VARCHAR(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  first_seen DATETIME(3) NOT NULL,
  last_seen DATETIME(3) NOT NULL,
  count BIGINT UNSIGNED NOT NULL,                           -- flows
  PRIMARY KEY (id),
  UNIQUE KEY pdns_client_key (name_hash, client),
  KEY pdns_client_client (client)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS pdns_resolver (
  client VARBINARY(16) NOT NULL,
  resolver VARBINARY(16) NOT NULL,
  port SMALLINT UNSIGNED NOT NULL,
  first_seen DATETIME(3) NOT NULL,
  last_seen DATETIME(3) NOT NULL,
  count BIGINT UNSIGNED NOT NULL,                           -- flows
  PRIMARY KEY (client, resolver, port),
  KEY pdns_resolver_resolver (resolver)
) ENGINE=InnoDB;

-- One row per committed batch: (source key, chunk) commits with the batch's rows, so a batch
-- offered again (retry after a lost COMMIT reply, file re-read after a crash) loads nothing.
CREATE TABLE IF NOT EXISTS ingest_ledger (
  key_hash BINARY(16) NOT NULL,                             -- sha256(source key)[0..16]
  chunk BIGINT UNSIGNED NOT NULL,
  source_key VARCHAR(1024) NOT NULL,
  label VARCHAR(1024) NOT NULL,
  flows INT UNSIGNED NOT NULL,
  dns_rows INT UNSIGNED NOT NULL,
  loaded_at DATETIME(3) NOT NULL,
  PRIMARY KEY (key_hash, chunk)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Explicit id ranges for flows.id: one row, advanced inside each loading transaction.
CREATE TABLE IF NOT EXISTS id_alloc (
  name VARCHAR(32) NOT NULL,
  next_id BIGINT NOT NULL,
  PRIMARY KEY (name)
) ENGINE=InnoDB;

INSERT IGNORE INTO id_alloc (name, next_id) VALUES ('flows', 1);
