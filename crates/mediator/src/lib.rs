#![forbid(unsafe_code)]
//! The mediator as a library: storage (store, dbconfig) and, later, the IPFIX side.

pub mod dbconfig;
pub mod store;
