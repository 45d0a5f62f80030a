//! This device's clock: the one place the agent reads the time, and how far another
//! clock may be from it before `status` warns. In: the operating system's clock. Out:
//! milliseconds since the Unix epoch and today's date in Vietnam.

use cchc_common::Date;

/// A peer clock further than this from ours is reported.
pub const CLOCK_WARN_MS: i64 = 10 * 60 * 1000;

/// This device's physical clock, milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Today in Vietnam, by this device's clock.
pub fn today() -> Date {
    Date::from_unix_ms_vn(now_ms())
}
