//! The hub's clock: the one place the hub reads the time. In: the operating system's
//! clock. Out: milliseconds since the Unix epoch.

/// The hub's physical clock, milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
