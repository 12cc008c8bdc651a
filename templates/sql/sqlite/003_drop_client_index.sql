-- Schema version 3 for SQLite (see templates/sql/mysql/003_drop_client_index.sql for the
-- reason): pdns_client loses its index on `client`, which no query reads.
DROP INDEX IF EXISTS pdns_client_client;
