//! Write-behind payloads read back from `pdns_pending` (store/pending.rs): any bytes are
//! refused or decoded without a panic, and what decodes re-encodes to keys that decode the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mediator::store::pending::{encode, Merged, PART_BYTES};

fuzz_target!(|data: &[u8]| {
    let mut m = Merged::default();
    if m.add_payload(data).is_err() {
        return;
    }
    let keys = m.keys();
    let (rr, resolvers) = m.into_sorted();
    let parts = encode(&rr, &resolvers, PART_BYTES).expect("decoded keys encode");
    let mut again = Merged::default();
    for p in &parts {
        again.add_payload(p).expect("our own payload decodes");
    }
    assert_eq!(again.keys(), keys);
    assert_eq!(again.into_sorted(), (rr, resolvers));
});
