-- Schema version 2 for SQLite (see templates/sql/mysql/002_lean_load.sql for the reasons).
-- Applied in one transaction with its schema_version row, so it is all or nothing.
-- pdns_client.name_hash is recomputed (plain SHA-256 prefix of the name) by the loader after
-- these statements, in the same transaction: SQLite has no SHA-256 function.
-- pdns_rr and pdns_client keep SQLite's rowid with a UNIQUE key: a rowid table finds a
-- conflicting key through that index without InnoDB's insert-then-roll-back cost.

DROP INDEX IF EXISTS dns_rrname_rev;
DROP INDEX IF EXISTS dns_rrval;
ALTER TABLE dns DROP COLUMN rrname_rev;
ALTER TABLE pdns_client DROP COLUMN rrname_rev;
