//! IPFIX time encodings (RFC 7011 §6.1.7-10) to and from one common form: nanoseconds since
//! the UNIX epoch. i128 because dateTimeMilliseconds spans far more than i64 nanoseconds.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds from the NTP epoch (1900-01-01) to the UNIX epoch (1970-01-01).
pub const NTP_UNIX_OFFSET: i128 = 2_208_988_800;

/// A point in time, as nanoseconds since the UNIX epoch.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i128);

impl Timestamp {
    pub fn from_unix_nanos(n: i128) -> Self {
        Self(n)
    }
    pub fn unix_nanos(self) -> i128 {
        self.0
    }
    /// Milliseconds since the epoch, rounded towards minus infinity.
    pub fn unix_millis(self) -> i128 {
        self.0.div_euclid(1_000_000)
    }
    pub fn unix_micros(self) -> i128 {
        self.0.div_euclid(1_000)
    }
    pub fn unix_secs(self) -> i128 {
        self.0.div_euclid(1_000_000_000)
    }
    /// RFC 3339 UTC with `digits` (0..=9) fractional digits, e.g.
    /// `2013-05-30T22:45:17.270Z`. Years outside 0..=9999 print as they come (no panic).
    pub fn to_rfc3339(self, digits: u32) -> String {
        let digits = digits.min(9);
        let secs = self.0.div_euclid(1_000_000_000);
        let nanos = self.0.rem_euclid(1_000_000_000);
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let mut s = format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
            sod / 3600,
            sod / 60 % 60,
            sod % 60
        );
        if digits > 0 {
            let frac = nanos / 10i128.pow(9 - digits);
            s.push_str(&format!(".{frac:0width$}", width = digits as usize));
        }
        s.push('Z');
        s
    }

    /// `None` before the epoch or beyond what `SystemTime` holds.
    pub fn to_system_time(self) -> Option<SystemTime> {
        let n = u128::try_from(self.0).ok()?;
        let secs = u64::try_from(n / 1_000_000_000).ok()?;
        UNIX_EPOCH.checked_add(Duration::new(secs, (n % 1_000_000_000) as u32))
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i128) -> (i128, i128, i128) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// NTP 64-bit (32-bit seconds since 1900, 32-bit binary fraction) to UNIX nanoseconds.
pub fn ntp_to_unix_nanos(ntp: u64) -> i128 {
    let secs = i128::from(ntp >> 32) - NTP_UNIX_OFFSET;
    let frac = i128::from(ntp & 0xFFFF_FFFF);
    secs * 1_000_000_000 + ((frac * 1_000_000_000) >> 32)
}

/// UNIX nanoseconds to NTP 64-bit; `None` outside NTP era 0 (1900..2036).
pub fn unix_nanos_to_ntp(nanos: i128) -> Option<u64> {
    let secs = nanos.div_euclid(1_000_000_000) + NTP_UNIX_OFFSET;
    let sub = nanos.rem_euclid(1_000_000_000);
    let secs = u32::try_from(secs).ok()?;
    // Round up so that converting back gives the same nanosecond (fraction steps are ~0.23 ns).
    let frac = ((sub << 32) + 999_999_999) / 1_000_000_000;
    let frac = u32::try_from(frac).ok()?;
    Some((u64::from(secs) << 32) | u64::from(frac))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntp_round_trips_and_matches_known_value() {
        // 2013-05-30 22:45:17 UTC = 1369953917 s; NTP seconds = + 2208988800.
        let ntp = (3_578_942_717u64 << 32) | 0x8000_0000; // .5 s
        assert_eq!(ntp_to_unix_nanos(ntp), 1_369_953_917_500_000_000);
        for n in [0i128, 1, 999_999_999, 1_369_953_917_123_456_789] {
            assert_eq!(ntp_to_unix_nanos(unix_nanos_to_ntp(n).unwrap()), n);
        }
        assert_eq!(
            unix_nanos_to_ntp(-NTP_UNIX_OFFSET * 1_000_000_000 - 1),
            None
        );
        let t = Timestamp(1_500_000_000);
        assert_eq!(t.unix_millis(), 1500);
        assert_eq!(
            t.to_system_time(),
            UNIX_EPOCH.checked_add(Duration::from_millis(1500))
        );
        assert_eq!(Timestamp(-1).unix_millis(), -1);
        let t = Timestamp(1_369_953_917_270_000_000);
        assert_eq!(t.to_rfc3339(3), "2013-05-30T22:45:17.270Z");
        assert_eq!(t.to_rfc3339(0), "2013-05-30T22:45:17Z");
        assert_eq!(
            Timestamp(951_782_400_000_000_001).to_rfc3339(9),
            "2000-02-29T00:00:00.000000001Z"
        );
        assert_eq!(Timestamp(-1).to_rfc3339(3), "1969-12-31T23:59:59.999Z");
    }
}
