//! The process's own figures for the end-of-run log line, the throughput bench and the corpus
//! test's memory bound: memory from /proc, and the CPU time each of the meter's threads used;
//! and its one memory setting, shared by the binary and the bench so that they compare.
//!
//! Per-thread CPU says which stage bounds a run (the packet thread, or the export thread that
//! decodes DNS and encodes IPFIX), which wall time alone cannot on a shared machine.

use std::sync::Mutex;
use std::time::Duration;

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

/// Transparent huge pages off for this process, unless `MIMALLOC_ALLOW_THP` is set (to
/// anything: the operator has chosen). mimalloc asks for them, and a flow table's memory is
/// touched sparsely while it grows: each first touch then clears a whole 2 MB page, or the
/// kernel compacts memory to find one. On the 1M-packet bench capture that made runs 0.81 to
/// 1.29 s (system time 0.13-0.51 s) and peak memory 210 MB; without, 0.86-0.94 s and 174 MB.
pub fn no_huge_pages() -> Result<(), nix::Error> {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        nix::sys::prctl::set_thp_disable(true)?;
    }
    Ok(())
}

/// CPU seconds the calling thread has used so far (None where the clock is unavailable).
pub fn thread_cpu() -> Option<Duration> {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .ok()
        .map(Duration::from)
}

/// CPU time of the threads that have finished, by role, summed (several files are read by
/// one reader thread after another).
static FINISHED: Mutex<Vec<(&'static str, Duration)>> = Mutex::new(Vec::new());

/// Adds the calling thread's CPU time to `role` in [`thread_cpu_report`].
pub fn note_thread_cpu(role: &'static str) {
    let Some(used) = thread_cpu() else {
        return;
    };
    if let Ok(mut all) = FINISHED.lock() {
        match all.iter_mut().find(|(r, _)| *r == role) {
            Some((_, d)) => *d += used,
            None => all.push((role, used)),
        }
    }
}

/// Records the thread's CPU time under its role when dropped, so every way out of a thread's
/// loop (end, error, a consumer gone) is counted.
#[derive(Debug)]
pub struct ThreadCpuGuard(pub &'static str);

impl Drop for ThreadCpuGuard {
    fn drop(&mut self) {
        note_thread_cpu(self.0);
    }
}

/// `role:seconds` for every role noted so far, comma-separated so that it is one log field,
/// e.g. `packet:0.512,export:0.401,read:0.080`.
pub fn thread_cpu_report() -> String {
    let all = FINISHED.lock().map(|a| a.clone()).unwrap_or_default();
    all.iter()
        .map(|(r, d)| format!("{r}:{:.3}", d.as_secs_f64()))
        .collect::<Vec<_>>()
        .join(",")
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

    #[test]
    fn thread_cpu_is_summed_by_role() {
        let spin = || {
            let _g = super::ThreadCpuGuard("test-spin");
            let mut x = 0u64;
            while super::thread_cpu().unwrap() < std::time::Duration::from_millis(25) {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
            }
        };
        std::thread::spawn(spin).join().unwrap();
        std::thread::spawn(spin).join().unwrap();
        let report = super::thread_cpu_report();
        let secs: f64 = report
            .split(',')
            .find_map(|kv| kv.strip_prefix("test-spin:"))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no test-spin entry in {report:?}"));
        // Two threads that each used 25 ms of CPU: one entry, their sum.
        assert!(secs >= 0.05, "{report}");
        assert_eq!(report.matches("test-spin:").count(), 1, "{report}");
    }
}
