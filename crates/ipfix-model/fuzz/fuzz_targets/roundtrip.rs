//! decode -> encode -> decode: whatever decodes re-encodes to the very same bytes, and the
//! re-encoding decodes (in a session with the same history) to an equal message.
#![no_main]

use ipfix_model::{complete_frame_len, Session};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut a = Session::new();
    let mut b = Session::new();
    let mut off = 0usize;
    while let Some(rest) = data.get(off..) {
        let Ok(Some(len)) = complete_frame_len(rest, 65535, off as u64) else {
            break;
        };
        let Some(msg_bytes) = rest.get(..len) else {
            break;
        };
        let Ok(m) = a.decode(msg_bytes, off as u64) else {
            break;
        };
        let re = m.to_bytes().expect("a decoded message re-encodes");
        assert_eq!(re, msg_bytes, "re-encoding differs at message offset {off}");
        let m2 = b.decode(&re, off as u64).expect("re-encoding decodes");
        assert_eq!(m, m2);
        off += len;
    }
});
