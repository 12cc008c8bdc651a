//! Packet decoder -> flow table with DNS inspection -> YAF encoder, for every link type; see
//! ../packet_body.rs for the input format and the checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)] // the summary is for the proptest
#[path = "../packet_body.rs"]
mod packet_body;

fuzz_target!(|data: &[u8]| {
    packet_body::run(data);
});
