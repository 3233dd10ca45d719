//! What the filter tells operators through the proxy: log levels and metric names.

/// Log levels the filter uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Routine events (denials).
    Info,
    /// Something an operator should look at.
    Warn,
}

/// Makes an issuer name safe inside a metric name (the request path's counters and the key
/// refresher's).
pub(crate) fn metric_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
