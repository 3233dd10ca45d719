//! Request header names the filter reads or removes, and how it compares them: as an
//! upstream may read them (ASCII case ignored, `_` taken for `-`).

/// The ALB's signed identity header.
pub const ALB_HEADER: &str = "x-amzn-oidc-data";
/// The Cognito access token an ALB forwards beside [`ALB_HEADER`].
pub const ALB_ACCESS_HEADER: &str = "x-amzn-oidc-accesstoken";
/// Every ALB header starts with this.
pub const ALB_PREFIX: &str = "x-amzn-oidc-";
/// Headers some frameworks read as the request's method instead of the one on the wire.
pub const METHOD_OVERRIDE_HEADERS: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// The first value of header `name` (ASCII case ignored) in a request's header list.
pub fn value<'h>(headers: &'h [(String, Vec<u8>)], name: &str) -> Option<&'h [u8]> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
}

/// Whether header `name` is `target` as an upstream may read it: ASCII case ignored, and `_`
/// taken for `-` (CGI and WSGI map both to the same variable).
pub fn header_is(name: &str, target: &str) -> bool {
    name.len() == target.len() && header_starts_with(name, target)
}

/// Whether header `name` starts with `prefix`, compared as [`header_is`] does.
pub fn header_starts_with(name: &str, prefix: &str) -> bool {
    let fold = |b: u8| {
        if b == b'_' {
            b'-'
        } else {
            b.to_ascii_lowercase()
        }
    };
    name.len() >= prefix.len()
        && name
            .bytes()
            .zip(prefix.bytes())
            .all(|(a, b)| fold(a) == fold(b))
}
