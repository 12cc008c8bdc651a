//! Test support shared by the mediator's integration tests (`mod common;`) and the store
//! benchmark (`#[path]`).
#![allow(dead_code)]

pub mod data;
pub mod mariadb;
