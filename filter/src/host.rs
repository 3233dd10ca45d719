//! Host scoping for routes and public paths: which `Host` (HTTP/1.1) or `:authority` (HTTP/2) a
//! route answers for.
//!
//! A pattern is an exact DNS name (`dex.example.com`), a wildcard over its subdomains
//! (`*.models.example.com`: one or more labels before `.models.example.com`, as Envoy's virtual
//! hosts read it), or a template whose labels capture the namespace and the API name
//! (`{api}.{namespace}.models.example.com`, `{api}-predictor.{namespace}.svc.cluster.local`).
//! A template label holds at most one capture, with a literal prefix or suffix around it, so
//! every host splits one way only: `{api}-{namespace}` in one label (where `my-model-team-a`
//! splits two ways) is refused. The request's authority is compared lower-cased, without its
//! port and without a trailing dot; an authority that is not a plain DNS name or IP literal
//! matches no pattern (only routes for every host).

/// A host pattern of a route.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum HostPattern {
    /// Exactly this name (lower case).
    Exact(String),
    /// Any name ending in `.` + this suffix (lower case), with at least one label before it.
    Subdomains(String),
    /// Label by label: literals, or a capture with a literal prefix and suffix.
    Template(Vec<HostLabel>),
}

/// One label of a host template.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum HostLabel {
    /// Exactly this label.
    Literal(String),
    /// `<prefix>{capture}<suffix>`: the capture is the non-empty rest of the label.
    Capture {
        /// Literal before the capture (may be empty).
        prefix: String,
        /// What the capture gives.
        capture: HostCapture,
        /// Literal after the capture (may be empty).
        suffix: String,
    },
}

/// What a host template label captures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum HostCapture {
    /// `{namespace}`.
    Namespace,
    /// `{api}`.
    Api,
}

/// What a matching host template captured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostCaptures<'a> {
    /// The `{namespace}` label part, when the template has one.
    pub namespace: Option<&'a str>,
    /// The `{api}` label part, when the template has one.
    pub api: Option<&'a str>,
}

impl HostPattern {
    /// Parses `name`, `*.name` or a template; names are lower-case DNS names (letters, digits,
    /// `-`, `.`), labels 1–63 characters, at most 253 in all.
    pub fn parse(s: &str) -> Result<HostPattern, String> {
        if s.contains(['{', '}']) {
            return parse_template(s);
        }
        let (wild, name) = match s.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        if !is_dns_name(name) {
            return Err(format!(
                "host `{s}` must be a lower-case DNS name, or `*.` and one (`*.example.com`)"
            ));
        }
        Ok(if wild {
            HostPattern::Subdomains(name.to_string())
        } else {
            HostPattern::Exact(name.to_string())
        })
    }

    /// Whether a normalized host (see [`normalize_authority`]) matches.
    pub fn matches(&self, host: &str) -> bool {
        self.captures(host).is_some()
    }

    /// What a normalized host gives this pattern, when it matches.
    pub fn captures<'h>(&self, host: &'h str) -> Option<HostCaptures<'h>> {
        let matched = match self {
            HostPattern::Template(labels) => return template_captures(labels, host),
            HostPattern::Exact(name) => host == name,
            HostPattern::Subdomains(suffix) => host
                .strip_suffix(suffix.as_str())
                .and_then(|head| head.strip_suffix('.'))
                .is_some_and(|head| !head.is_empty()),
        };
        matched.then_some(HostCaptures::default())
    }

    /// Whether the pattern captures `capture` (every host it matches gives it).
    pub fn captures_kind(&self, capture: HostCapture) -> bool {
        matches!(self, HostPattern::Template(labels)
            if labels.iter().any(|l| matches!(l, HostLabel::Capture { capture: c, .. } if *c == capture)))
    }

    /// Whether one request's host could match both patterns.
    pub fn meets(&self, other: &HostPattern) -> bool {
        match (self, other) {
            (HostPattern::Template(a), HostPattern::Template(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.meets(y))
            }
            (HostPattern::Template(t), HostPattern::Exact(e))
            | (HostPattern::Exact(e), HostPattern::Template(t)) => {
                template_captures(t, e).is_some()
            }
            (HostPattern::Template(t), HostPattern::Subdomains(s))
            | (HostPattern::Subdomains(s), HostPattern::Template(t)) => {
                // The template's last labels must fit the suffix, and at least one label of
                // the template must lie before it.
                let suffix: Vec<&str> = s.split('.').collect();
                t.len() > suffix.len()
                    && t.iter()
                        .rev()
                        .zip(suffix.iter().rev())
                        .all(|(label, lit)| label.meets(&HostLabel::Literal((*lit).to_owned())))
            }
            (HostPattern::Exact(a), _) => other.matches(a),
            (_, HostPattern::Exact(b)) => self.matches(b),
            (HostPattern::Subdomains(a), HostPattern::Subdomains(b)) => {
                a == b || self.matches(b) || other.matches(a)
            }
        }
    }
}

impl std::fmt::Display for HostPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostPattern::Exact(n) => f.write_str(n),
            HostPattern::Subdomains(n) => write!(f, "*.{n}"),
            HostPattern::Template(labels) => {
                for (i, l) in labels.iter().enumerate() {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    match l {
                        HostLabel::Literal(s) => f.write_str(s)?,
                        HostLabel::Capture {
                            prefix,
                            capture,
                            suffix,
                        } => {
                            let name = match capture {
                                HostCapture::Namespace => "namespace",
                                HostCapture::Api => "api",
                            };
                            write!(f, "{prefix}{{{name}}}{suffix}")?;
                        }
                    }
                }
                Ok(())
            }
        }
    }
}

impl HostLabel {
    /// Whether one host label could match both.
    fn meets(&self, other: &HostLabel) -> bool {
        match (self, other) {
            (HostLabel::Literal(a), HostLabel::Literal(b)) => a == b,
            (HostLabel::Literal(l), c @ HostLabel::Capture { .. })
            | (c @ HostLabel::Capture { .. }, HostLabel::Literal(l)) => c.capture(l).is_some(),
            (
                HostLabel::Capture {
                    prefix: p1,
                    suffix: s1,
                    ..
                },
                HostLabel::Capture {
                    prefix: p2,
                    suffix: s2,
                    ..
                },
            ) => {
                (p1.starts_with(p2.as_str()) || p2.starts_with(p1.as_str()))
                    && (s1.ends_with(s2.as_str()) || s2.ends_with(s1.as_str()))
            }
        }
    }

    /// What a host label gives this template label: the captured part (empty for a
    /// literal), or `None` when it does not match.
    fn capture<'h>(&self, label: &'h str) -> Option<&'h str> {
        match self {
            HostLabel::Literal(l) => (l == label).then_some(""),
            HostLabel::Capture { prefix, suffix, .. } => label
                .strip_prefix(prefix.as_str())
                .and_then(|rest| rest.strip_suffix(suffix.as_str()))
                .filter(|c| !c.is_empty()),
        }
    }
}

fn template_captures<'h>(labels: &[HostLabel], host: &'h str) -> Option<HostCaptures<'h>> {
    let mut out = HostCaptures::default();
    let mut parts = host.split('.');
    for label in labels {
        let part = parts.next()?;
        let got = label.capture(part)?;
        if let HostLabel::Capture { capture, .. } = label {
            match capture {
                HostCapture::Namespace => out.namespace = Some(got),
                HostCapture::Api => out.api = Some(got),
            }
        }
    }
    parts.next().is_none().then_some(out)
}

/// Parses a host template: labels of lower-case letters, digits and `-`, a label holding at
/// most one `{namespace}` or `{api}` (each at most once in the template), at least one
/// capture, and a literal last label (a template cannot be a catch-all).
fn parse_template(s: &str) -> Result<HostPattern, String> {
    let bad = |why: &str| Err(format!("host template `{s}`: {why}"));
    let literal_ok = |l: &str| {
        l.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let mut labels = Vec::new();
    let mut seen: Vec<HostCapture> = Vec::new();
    for label in s.split('.') {
        if label.is_empty() || label.len() > 63 {
            return bad("labels must hold 1 to 63 characters");
        }
        let Some(open) = label.find('{') else {
            if !literal_ok(label) || label.contains('}') {
                return bad(&format!("label `{label}` is not a lower-case DNS label"));
            }
            labels.push(HostLabel::Literal(label.to_owned()));
            continue;
        };
        let close = match label[open..].find('}') {
            Some(c) => open + c,
            None => return bad(&format!("label `{label}` opens `{{` without closing it")),
        };
        let (prefix, name, suffix) = (&label[..open], &label[open + 1..close], &label[close + 1..]);
        if suffix.contains(['{', '}']) || prefix.contains('}') {
            return bad(&format!(
                "label `{label}` holds two captures: a host could split between them more than one way"
            ));
        }
        if !literal_ok(prefix) || !literal_ok(suffix) {
            return bad(&format!(
                "label `{label}` is not a lower-case DNS label around its capture"
            ));
        }
        let capture = match name {
            "namespace" => HostCapture::Namespace,
            "api" => HostCapture::Api,
            other => {
                return bad(&format!(
                    "`{{{other}}}` is neither `{{namespace}}` nor `{{api}}`"
                ))
            }
        };
        if seen.contains(&capture) {
            return bad(&format!("`{{{name}}}` is captured twice"));
        }
        seen.push(capture);
        labels.push(HostLabel::Capture {
            prefix: prefix.to_owned(),
            capture,
            suffix: suffix.to_owned(),
        });
    }
    if !matches!(labels.last(), Some(HostLabel::Literal(_))) || labels.len() < 2 {
        return bad(
            "it needs a literal domain after its captures (`{api}.{namespace}.example.com`)",
        );
    }
    Ok(HostPattern::Template(labels))
}

/// Whether `name` is a lower-case DNS name: labels of 1–63 lower-case letters, digits and
/// `-` (not first or last), at most 253 characters in all. Host patterns and key URLs are
/// checked with it.
pub fn is_dns_name(name: &str) -> bool {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    !name.is_empty() && name.len() <= 253 && name.split('.').all(label_ok)
}

/// The host of a request's authority: lower-cased, port and trailing dot removed. `None` when
/// the authority is empty or holds anything but a DNS name or an IP literal (userinfo,
/// spaces, a bad port): such a request matches only routes for every host.
pub fn normalize_authority(authority: &str) -> Option<String> {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        // An IPv6 literal: `[::1]` or `[::1]:8080`.
        let (inside, after) = rest.split_once(']')?;
        if !after.is_empty() && !port_ok(after.strip_prefix(':')?) {
            return None;
        }
        if !inside
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return None;
        }
        return Some(format!("[{}]", inside.to_ascii_lowercase()));
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) if port_ok(port) => host,
            Some(_) => return None,
            None => authority,
        }
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    let ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    ok.then(|| host.to_ascii_lowercase())
}

fn port_ok(port: &str) -> bool {
    !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn authorities_normalize() {
        assert_eq!(
            normalize_authority("Dex.Example.COM:443").as_deref(),
            Some("dex.example.com")
        );
        assert_eq!(
            normalize_authority("dex.example.com.").as_deref(),
            Some("dex.example.com")
        );
        assert_eq!(normalize_authority("[::1]:80").as_deref(), Some("[::1]"));
        for bad in [
            "",
            "a b",
            "user@dex.example.com",
            "dex.example.com:x",
            "[::1]x",
            "dex:",
        ] {
            assert_eq!(normalize_authority(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn patterns_match_like_envoy_virtual_hosts() {
        let exact = HostPattern::parse("dex.example.com").unwrap();
        assert!(exact.matches("dex.example.com"));
        assert!(!exact.matches("evil-dex.example.com"));
        let wild = HostPattern::parse("*.models.example.com").unwrap();
        assert!(wild.matches("fraud.models.example.com"));
        assert!(wild.matches("a.b.models.example.com"));
        assert!(!wild.matches("models.example.com"));
        assert!(!wild.matches("evilmodels.example.com"));
        for bad in [
            "",
            "*",
            "*.",
            "Dex.example.com",
            "a..b",
            "-a.com",
            "a.*.com",
            "a_b.com",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad}");
        }
        assert!(wild.meets(&HostPattern::parse("x.models.example.com").unwrap()));
        let t = HostPattern::parse("{api}.{namespace}.models.example.com").unwrap();
        assert!(wild.meets(&t) && t.meets(&wild));
        assert!(!t.meets(&exact));
        assert!(wild.meets(&HostPattern::parse("*.x.models.example.com").unwrap()));
        assert!(!wild.meets(&exact));
    }

    #[test]
    fn templates_capture_the_namespace_and_the_api_from_the_host() {
        let t = HostPattern::parse("{api}.{namespace}.models.example.com").unwrap();
        let c = t.captures("churn.team-a.models.example.com").unwrap();
        assert_eq!((c.namespace, c.api), (Some("team-a"), Some("churn")));
        assert!(
            t.captures("team-a.models.example.com").is_none(),
            "one label short"
        );
        assert!(
            t.captures("x.churn.team-a.models.example.com").is_none(),
            "one label more"
        );
        assert!(t
            .captures("churn.team-a.models.example.com.evil.com")
            .is_none());
        let p = HostPattern::parse("{api}-predictor.{namespace}.svc.cluster.local").unwrap();
        let c = p
            .captures("churn-predictor.team-a.svc.cluster.local")
            .unwrap();
        assert_eq!((c.namespace, c.api), (Some("team-a"), Some("churn")));
        assert!(
            p.captures("-predictor.team-a.svc.cluster.local").is_none(),
            "empty capture"
        );
        assert!(p.captures("churn.team-a.svc.cluster.local").is_none());
        assert_eq!(
            p.to_string(),
            "{api}-predictor.{namespace}.svc.cluster.local"
        );
        assert!(p.captures_kind(HostCapture::Api) && p.captures_kind(HostCapture::Namespace));
        assert!(!HostPattern::parse("dex.example.com")
            .unwrap()
            .captures_kind(HostCapture::Api));
    }

    #[test]
    fn templates_that_cannot_be_judged_safely_are_refused() {
        for (bad, why) in [
            ("{api}-{namespace}.example.com", "two captures"),
            ("{api}.{api}.example.com", "captured twice"),
            ("{user}.example.com", "neither"),
            ("{api}.{namespace}", "literal domain"),
            ("{api}", "literal domain"),
            ("{api.example.com", "without closing"),
            ("{API}.example.com", "neither"),
            ("Models-{api}.example.com", "lower-case"),
            ("{api}..example.com", "1 to 63"),
        ] {
            let e = HostPattern::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
