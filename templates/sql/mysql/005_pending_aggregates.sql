-- Schema version 5 for MySQL/MariaDB: write-behind aggregates (store/pending.rs).
--
-- Why (benches/store_load.rs): on a long load most of the server's work beyond a plain load is
-- upserting pdns_rr and pdns_resolver keys, and batch after batch upserts the same popular
-- keys. Each batch's transaction now appends its pre-aggregated keys here instead (a few rows
-- of at most 512 KiB, less on a server with a smaller max_allowed_packet), and the mediator
-- applies the keys of many batches, merged, in one later transaction that deletes exactly
-- these rows: at the end of every file, when the merged keys reach --write-behind-keys, and at
-- start-up for rows a stopped mediator left. A row is applied in the transaction that deletes
-- it, so each is applied once whatever stops when.
--
-- Rows here are the aggregates not yet in pdns_rr/pdns_resolver; an empty table means the
-- aggregates are current. Nothing else reads or writes it.
CREATE TABLE IF NOT EXISTS pdns_pending (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  created_at DATETIME(3) NOT NULL,
  payload LONGBLOB NOT NULL,                                -- store/pending.rs, version byte first
  PRIMARY KEY (id)
) ENGINE=InnoDB;
