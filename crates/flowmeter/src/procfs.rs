//! The process's own memory figures from /proc, for the end-of-run log line, the throughput
//! bench and the corpus test's memory bound.

/// A `/proc/self/status` field given in KiB (`"VmHWM:"`, `"VmRSS:"`), 0 when /proc cannot
/// tell (not Linux, or no such field).
pub fn self_status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_peak_memory_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(super::self_status_kib("VmHWM:") > 0);
        }
        assert_eq!(super::self_status_kib("NoSuchField:"), 0);
    }
}
