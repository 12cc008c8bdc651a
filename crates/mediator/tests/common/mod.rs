//! Test support shared by the mediator's integration tests (`mod common;`) and the store
//! benchmark (`#[path]`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod data;
pub mod mariadb;
