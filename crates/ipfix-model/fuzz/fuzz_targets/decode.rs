//! Any byte stream: framing, message decoding (small limits so nesting and budgets are hit),
//! the file reader, and the typed view over whatever decoded. Must never panic or hang.
#![no_main]

use ipfix_model::{complete_frame_len, FileReader, Limits, Session};
use libfuzzer_sys::fuzz_target;

fn touch(m: &ipfix_model::Message<'_>) {
    for r in m.data_records() {
        for f in r.iter() {
            let _ = f.typed();
            let _ = f.as_time();
            let _ = f.as_i64();
        }
        r.walk(&mut |sub, _| {
            for f in sub.iter() {
                let _ = f.typed();
            }
        });
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_depth: 4,
        max_fields_per_message: 4096,
        max_templates: 64,
        ..Limits::default()
    };
    let mut s = Session::with_limits(limits);
    let mut off = 0usize;
    while let Some(rest) = data.get(off..) {
        match complete_frame_len(rest, 65535, off as u64) {
            Ok(Some(len)) => {
                if let Ok(m) = s.decode(rest, off as u64) {
                    touch(&m);
                }
                off += len;
            }
            _ => break,
        }
    }
    let mut rd = FileReader::with_limits(data, limits);
    while let Ok(Some(m)) = rd.next_message() {
        touch(&m);
    }
});
