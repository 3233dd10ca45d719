//! The Gateway's `keyRefresh` block → [`KeyRefreshSettings`]: each field as written or its
//! default, within the limits below, and together accepted by the filter's own
//! [`RefreshBounds::check`].

use gatehouse_filter::live::RefreshBounds;
use gatehouse_filter::table::KeyRefreshSettings;

use super::Ctx;
use crate::model::gateway::KeyRefreshIn;
use crate::path;
use crate::yaml::Document;

/// One `keyRefresh` field: its policy name, the accepted range, and what it is in words.
struct Field {
    name: &'static str,
    value: Option<u64>,
    min: u64,
    max: u64,
    unit: &'static str,
}

/// Longest accepted `maxIntervalSeconds`: a day (a withdrawn key must stop verifying within
/// one refresh).
pub const MAX_INTERVAL_SECONDS: u64 = 86_400;
/// Longest accepted `holdMilliseconds`: a request held longer is a request timed out.
pub const MAX_HOLD_MILLISECONDS: u64 = 10_000;
/// Largest accepted `maxBodyBytes` (4 MiB; a JWKS is a few KiB).
pub const MAX_BODY_BYTES: u64 = 4 * 1024 * 1024;
/// Longest accepted `fetchTimeoutMilliseconds`.
pub const MAX_FETCH_TIMEOUT_MILLISECONDS: u64 = 60_000;
/// Most held requests per worker.
pub const MAX_HELD: u64 = 10_000;

/// The settings `spec` asks for (defaults for what it leaves out); every value out of range
/// is reported at its field in `doc`, and then the default stands.
pub(crate) fn settings(
    spec: &KeyRefreshIn,
    doc: Option<&Document>,
    ctx: &mut Ctx<'_>,
) -> KeyRefreshSettings {
    let d = KeyRefreshSettings::default();
    let fields = [
        Field {
            name: "minIntervalSeconds",
            value: spec.min_interval_seconds,
            min: 1,
            max: MAX_INTERVAL_SECONDS,
            unit: "seconds",
        },
        Field {
            name: "maxIntervalSeconds",
            value: spec.max_interval_seconds,
            min: 1,
            max: MAX_INTERVAL_SECONDS,
            unit: "seconds",
        },
        Field {
            name: "refetchIntervalSeconds",
            value: spec.refetch_interval_seconds,
            min: 1,
            max: MAX_INTERVAL_SECONDS,
            unit: "seconds",
        },
        Field {
            name: "holdMilliseconds",
            value: spec.hold_milliseconds,
            min: 0,
            max: MAX_HOLD_MILLISECONDS,
            unit: "milliseconds",
        },
        Field {
            name: "maxHeld",
            value: spec.max_held,
            min: 0,
            max: MAX_HELD,
            unit: "requests",
        },
        Field {
            name: "maxBodyBytes",
            value: spec.max_body_bytes,
            min: 1,
            max: MAX_BODY_BYTES,
            unit: "bytes",
        },
        Field {
            name: "fetchTimeoutMilliseconds",
            value: spec.fetch_timeout_milliseconds,
            min: 1,
            max: MAX_FETCH_TIMEOUT_MILLISECONDS,
            unit: "milliseconds",
        },
    ];
    let mut ok = true;
    let mut value = |f: &Field, default: u64| match f.value {
        Some(v) if !(f.min..=f.max).contains(&v) => {
            ok = false;
            if let Some(doc) = doc {
                ctx.report(doc.error(
                    "invalid-value",
                    path!["spec", "keyRefresh", f.name],
                    format!(
                        "`{}` is {v}; expected {} to {} {}",
                        f.name, f.min, f.max, f.unit
                    ),
                ));
            }
            default
        }
        Some(v) => v,
        None => default,
    };
    let s = KeyRefreshSettings {
        min_interval_seconds: value(&fields[0], d.min_interval_seconds),
        max_interval_seconds: value(&fields[1], d.max_interval_seconds),
        refetch_interval_seconds: value(&fields[2], d.refetch_interval_seconds),
        hold_milliseconds: value(&fields[3], d.hold_milliseconds),
        max_held: value(&fields[4], d.max_held as u64) as usize,
        max_body_bytes: value(&fields[5], d.max_body_bytes as u64) as usize,
        fetch_timeout_milliseconds: value(&fields[6], d.fetch_timeout_milliseconds),
    };
    let Some(doc) = doc.filter(|_| ok) else {
        return s;
    };
    if s.max_interval_seconds < s.min_interval_seconds {
        ctx.report(doc.error(
            "invalid-value",
            path!["spec", "keyRefresh", "maxIntervalSeconds"],
            format!(
                "`maxIntervalSeconds` ({}) is below `minIntervalSeconds` ({})",
                s.max_interval_seconds, s.min_interval_seconds
            ),
        ));
    } else if let Err(e) = RefreshBounds::from_settings(&s).check() {
        ctx.report(doc.error(
            "invalid-value",
            path!["spec", "keyRefresh"],
            format!("the filter refuses these key refresh bounds: {e}"),
        ));
    }
    s
}
