//! Store errors, split by what the caller should do about them.
//!
//! The split matters more than the detail: a transient error means "the same batch may succeed
//! later, keep it and retry" (the ledger makes the retry safe), a permanent one means "this batch
//! or this configuration will never load, report it" (e.g. move the input to the error dir).

use thiserror::Error;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Connection lost, server gone away or restarting, lock wait timeout, deadlock, too many
    /// connections, SQLite busy: retry the same batch after a pause.
    #[error("transient database error ({context}): {message}")]
    Transient {
        context: &'static str,
        message: String,
    },
    /// The server refused a packet as too large: retry with smaller statements.
    #[error("statement too large for the server ({context}): {message}")]
    TooLarge {
        context: &'static str,
        message: String,
    },
    /// SQL or schema error that retrying cannot fix.
    #[error("database error ({context}): {message}")]
    Permanent {
        context: &'static str,
        message: String,
    },
    /// The batch itself cannot be stored (e.g. a flow with more DNS rows than a key allows).
    #[error("invalid batch {source_label} chunk {chunk}: {reason}")]
    InvalidBatch {
        source_label: String,
        chunk: u64,
        reason: String,
    },
    /// Bad configuration (URL, option file, missing password source...).
    #[error("database configuration: {0}")]
    Config(String),
    /// The schema in the database is newer than this program knows.
    #[error("database schema version {found} is newer than supported version {supported}")]
    SchemaTooNew { found: u32, supported: u32 },
}

impl StoreError {
    /// True when retrying the same operation later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Transient { .. } | StoreError::TooLarge { .. }
        )
    }

    pub(crate) fn permanent(context: &'static str, message: impl Into<String>) -> Self {
        StoreError::Permanent {
            context,
            message: message.into(),
        }
    }
}

/// MariaDB/MySQL server error codes that mean "try again" (from the server's errmsg list).
const MYSQL_TRANSIENT_CODES: &[u16] = &[
    1040, // ER_CON_COUNT_ERROR: too many connections
    1053, // ER_SERVER_SHUTDOWN
    1077, // ER_NORMAL_SHUTDOWN
    1079, // ER_SHUTDOWN_COMPLETE
    1152, // ER_ABORTING_CONNECTION
    1154, // ER_NET_READ_ERROR_FROM_PIPE
    1156, // ER_NET_PACKETS_OUT_OF_ORDER
    1157, // ER_NET_UNCOMPRESS_ERROR
    1158, // ER_NET_READ_ERROR
    1159, // ER_NET_READ_INTERRUPTED
    1160, // ER_NET_ERROR_ON_WRITE
    1161, // ER_NET_WRITE_INTERRUPTED
    1205, // ER_LOCK_WAIT_TIMEOUT
    1213, // ER_LOCK_DEADLOCK
    1317, // ER_QUERY_INTERRUPTED
    1927, // ER_CONNECTION_KILLED (MariaDB)
    2006, // CR_SERVER_GONE_ERROR
    2013, // CR_SERVER_LOST
    4031, // ER_CLIENT_INTERACTION_TIMEOUT (MySQL 8: wait_timeout)
];
/// ER_NET_PACKET_TOO_LARGE and CR_NET_PACKET_TOO_LARGE.
const MYSQL_TOO_LARGE_CODES: &[u16] = &[1153, 2020];

pub(crate) fn from_mysql(context: &'static str, e: mysql_async::Error) -> StoreError {
    use mysql_async::{DriverError, Error};
    let message = e.to_string();
    match &e {
        Error::Server(se) if MYSQL_TOO_LARGE_CODES.contains(&se.code) => {
            StoreError::TooLarge { context, message }
        }
        Error::Server(se) if MYSQL_TRANSIENT_CODES.contains(&se.code) => {
            StoreError::Transient { context, message }
        }
        Error::Driver(DriverError::PacketTooLarge) => StoreError::TooLarge { context, message },
        // A connection that broke under us (IO error, closed, out-of-order packets after a
        // kill) is retried on a fresh connection.
        Error::Io(_)
        | Error::Driver(
            DriverError::ConnectionClosed
            | DriverError::PoolDisconnected
            | DriverError::PacketOutOfOrder
            | DriverError::UnexpectedPacket { .. }
            | DriverError::BadCompressedPacketHeader,
        ) => StoreError::Transient { context, message },
        _ => StoreError::Permanent { context, message },
    }
}

pub(crate) fn from_sqlite(context: &'static str, e: rusqlite::Error) -> StoreError {
    let message = e.to_string();
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            StoreError::Transient { context, message }
        }
        _ => StoreError::Permanent { context, message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_error(code: u16) -> mysql_async::Error {
        mysql_async::Error::Server(mysql_async::ServerError {
            code,
            message: "x".into(),
            state: "HY000".into(),
        })
    }

    #[test]
    fn mysql_classification() {
        assert!(from_mysql("t", server_error(1213)).is_transient());
        assert!(from_mysql("t", server_error(1927)).is_transient());
        assert!(matches!(
            from_mysql("t", server_error(1153)),
            StoreError::TooLarge { .. }
        ));
        // Syntax error and duplicate key are not retried.
        assert!(!from_mysql("t", server_error(1064)).is_transient());
        assert!(!from_mysql("t", server_error(1062)).is_transient());
        let io = mysql_async::Error::Io(mysql_async::IoError::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        )));
        assert!(from_mysql("t", io).is_transient());
    }
}
