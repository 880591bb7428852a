//! Time as the appliance sees it. Production reads the system clock; tests
//! inject a [`ManualClock`] so the hour-long duplicate window can be crossed
//! without waiting.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

pub type SharedClock = Arc<dyn Clock>;

#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    pub fn new(start_ms: u64) -> Self {
        ManualClock(AtomicU64::new(start_ms))
    }
    pub fn advance_ms(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
    pub fn set_ms(&self, ms: u64) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// RFC 3339 UTC with milliseconds: `2026-11-22T19:38:28.123Z`.
pub fn rfc3339_utc(ms: u64) -> String {
    Rfc3339Utc::new(ms).as_str().to_string()
}

/// [`rfc3339_utc`] without a heap string, for the request path: the 24
/// bytes live where the value does.
#[derive(Clone, Copy)]
pub struct Rfc3339Utc([u8; 24]);

impl Rfc3339Utc {
    pub fn new(ms: u64) -> Self {
        use chrono::{Datelike, Timelike};
        let t = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms as i64)
            .unwrap_or_default()
            .naive_utc();
        let mut b = *b"0000-00-00T00:00:00.000Z";
        let mut put = |at: usize, width: usize, mut v: u32| {
            for i in (at..at + width).rev() {
                b[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        // Years past 9999 are beyond RFC 3339; the store never sees them.
        put(0, 4, t.year().clamp(0, 9999) as u32);
        put(5, 2, t.month());
        put(8, 2, t.day());
        put(11, 2, t.hour());
        put(14, 2, t.minute());
        put(17, 2, t.second());
        put(20, 3, t.nanosecond() / 1_000_000 % 1000);
        Rfc3339Utc(b)
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits and separators are ever written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// Local wall time in `tz`, with its offset: `2026-11-22T21:38:28.123+02:00`.
pub fn rfc3339_in(ms: u64, tz: chrono_tz::Tz) -> String {
    use chrono::{DateTime, SecondsFormat, Utc};
    DateTime::<Utc>::from_timestamp_millis(ms as i64)
        .unwrap_or_default()
        .with_timezone(&tz)
        .to_rfc3339_opts(SecondsFormat::Millis, false)
}

/// Parses RFC 3339 into epoch milliseconds.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.timestamp_millis().max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_formatter_matches_chrono() {
        use chrono::{DateTime, SecondsFormat, Utc};
        let mut ms = 0u64;
        // From the epoch to past 2100, in steps that vary every field.
        while ms < 4_200_000_000_000 {
            let want = DateTime::<Utc>::from_timestamp_millis(ms as i64)
                .unwrap()
                .to_rfc3339_opts(SecondsFormat::Millis, true);
            assert_eq!(Rfc3339Utc::new(ms).as_str(), want, "{ms}");
            ms += 9_876_543_217;
        }
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_utc(951_782_400_999), "2000-02-29T00:00:00.999Z");
    }

    #[test]
    fn formats_round_trip() {
        let ms = 1_795_376_308_123;
        let s = rfc3339_utc(ms);
        assert!(s.ends_with('Z'), "{s}");
        assert_eq!(parse_rfc3339(&s), Some(ms));
        let local = rfc3339_in(ms, chrono_tz::Asia::Jerusalem);
        assert!(
            local.ends_with("+02:00") || local.ends_with("+03:00"),
            "{local}"
        );
        assert_eq!(parse_rfc3339(&local), Some(ms));
    }
}
