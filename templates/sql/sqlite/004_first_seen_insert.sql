-- Schema version 4 for SQLite (see templates/sql/mysql/004_first_seen_insert.sql for the
-- reason): pdns_rr's first_seen index is replaced by one on first_seen_insert, first_seen as
-- it was when the row was inserted, which the upsert never changes.
ALTER TABLE pdns_rr ADD COLUMN first_seen_insert TEXT NOT NULL DEFAULT '1970-01-01 00:00:00.000';
UPDATE pdns_rr SET first_seen_insert = first_seen;
DROP INDEX IF EXISTS pdns_rr_first;
CREATE INDEX IF NOT EXISTS pdns_rr_first_insert ON pdns_rr (first_seen_insert);
