//! Inputs: files (`--in-file`), spool directories (`--in-dir` and the network journal), and
//! the TCP/UDP listeners, which journal into the spool rather than write the database.

pub mod file;
pub mod spool;
pub mod tcp;
pub mod udp;
