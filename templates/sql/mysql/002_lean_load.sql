-- Schema version 2 for MySQL/MariaDB: fewer indexes on the load path, the analysts' questions
-- served from the passive-DNS aggregates' keys. Applied after 001 on a new database and in
-- place on a version 1 database by `mediator init-db` / Store::init.
--
-- Idempotence: MySQL DDL is not transactional, so a run interrupted between two statements
-- leaves some applied. Each statement below is atomic on its own and fails with "can't DROP ...
-- check that it exists" (1091) when it was already applied; the loader treats exactly that
-- error as "already done" (store/mysql.rs, MIGRATION_DONE_ERRORS), so a re-run completes the
-- migration. The UPDATE is deterministic and may run twice.
--
-- Why (benches/store_load.rs, profile of the v1 commit path): the `dns` table's three
-- 255-character prefix indexes took 40 % of the load time, the aggregate upserts 43 %.
--
-- 1. `dns` keeps only the `rrname` index (the seed's `rrname LIKE "www.google.com."` uses it).
--    Subdomains and "which names had this value" are answered by pdns_rr's indexes (one row
--    per distinct (name, type, value) instead of one per sighting), and the raw rows of those
--    names are then one `dns.rrname` lookup away. `rrname_rev` existed in dns only for its
--    index, so it goes too (an instant DROP COLUMN on MariaDB >= 10.4 and MySQL >= 8.0.29).
ALTER TABLE dns DROP INDEX dns_rrname_rev;
ALTER TABLE dns DROP INDEX dns_rrval;
ALTER TABLE dns DROP COLUMN rrname_rev;

-- 2. pdns_rr: the 16-byte key hash becomes the primary key. With a surrogate AUTO_INCREMENT key
--    and a UNIQUE hash, InnoDB's INSERT ... ON DUPLICATE KEY UPDATE inserts the clustered record
--    first, meets the duplicate in the secondary index, rolls the insert back and then updates:
--    three writes for every key already present. With the hash clustered, a known key is found
--    and updated in place, and one index fewer is written for a new key.
ALTER TABLE pdns_rr DROP PRIMARY KEY, DROP COLUMN id, DROP INDEX pdns_rr_hash,
  ADD PRIMARY KEY (rr_hash);

-- 3. pdns_client: the same for (name_hash, client); `rrname_rev` was never read. name_hash
--    becomes the plain first 16 bytes of SHA-256 of the lower-cased name, so analysts can
--    write the indexed lookup in SQL:
--      WHERE name_hash = UNHEX(LEFT(SHA2('www.example.com.', 256), 32))
--    (version 1 hashed a tagged, length-prefixed encoding no SQL function computes).
ALTER TABLE pdns_client DROP PRIMARY KEY, DROP COLUMN id, DROP INDEX pdns_client_key,
  DROP COLUMN rrname_rev, ADD PRIMARY KEY (name_hash, client);
UPDATE pdns_client SET name_hash = UNHEX(LEFT(SHA2(rrname, 256), 32));
