#![forbid(unsafe_code)]
//! The mediator as a library: storage (store, dbconfig) and, later, the IPFIX side.

pub mod dbconfig;
pub mod store;

// Inputs, journal, mapping and CLI (IPFIX side).
pub mod cli;
pub mod ingest;
pub mod journal;
pub mod metrics;
pub mod pipeline;
pub mod source;
