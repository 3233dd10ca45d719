//! Checks of single values: emails, issuer URLs, AWS regions and ALB ARNs, RFC 3339 times.
//! Each returns the problem as a lowercase message (and a hint where one helps).

/// A failed check: message and optional hint.
pub type Problem = (String, Option<String>);

/// An email address as identity providers give them: `local@domain.tld`.
pub fn check_email(s: &str) -> Result<(), Problem> {
    let bad = |why: &str| Err((format!("`{s}` is not a valid email address: {why}"), None));
    let Some((local, domain)) = s.split_once('@') else {
        return bad("no `@`");
    };
    if local.is_empty() || local.len() > 64 {
        return bad("the part before `@` is empty or too long");
    }
    if domain.contains('@') {
        return bad("more than one `@`");
    }
    if s.chars()
        .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\\\"".contains(c))
    {
        return bad("it holds a space or a character emails cannot hold");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2
        || labels.iter().any(|l| {
            l.is_empty()
                || l.starts_with('-')
                || l.ends_with('-')
                || !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
    {
        return bad("the domain must be a host name such as `example.com`");
    }
    Ok(())
}

/// An issuer URL: `https://host[:port][/path]`, no query, fragment or user info. `http://` is
/// accepted only for in-cluster Kubernetes service hosts (`*.svc`, `*.svc.cluster.local`), as
/// Kubeflow's own Dex (`http://dex.auth.svc.cluster.local:5556/dex`) names itself: Gatehouse
/// never fetches from the URL, it only compares it with the token's `iss`.
pub fn check_issuer_url(s: &str) -> Result<(), Problem> {
    let bad = |why: &str, hint: Option<&str>| {
        Err((
            format!("`{s}` is not a valid issuer URL: {why}"),
            hint.map(str::to_string),
        ))
    };
    let in_cluster = |rest: &str| {
        let host = rest.split(['/', ':']).next().unwrap_or_default();
        host.ends_with(".svc") || host.ends_with(".svc.cluster.local")
    };
    let rest = match (s.strip_prefix("https://"), s.strip_prefix("http://")) {
        (Some(rest), _) => rest,
        (None, Some(rest)) if in_cluster(rest) => rest,
        _ => {
            return bad(
                "it must start with `https://` (`http://` only for in-cluster `*.svc` hosts)",
                Some("issuers are identified by their URL, exactly as the token's `iss` says"),
            )
        }
    };
    if s.contains(['?', '#']) {
        return bad("it must not hold a query or fragment", None);
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("it holds whitespace", None);
    }
    let host = rest.split('/').next().unwrap_or_default();
    if host.contains('@') {
        return bad("it must not hold user info", None);
    }
    let name = host.split(':').next().unwrap_or_default();
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return bad("the host is missing or not a host name", None);
    }
    Ok(())
}

/// An AWS region name (`us-east-1`, `cn-north-1`, `us-gov-west-1`).
pub fn check_region(s: &str) -> Result<(), Problem> {
    let parts: Vec<&str> = s.split('-').collect();
    let ok = parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err((
            format!("`{s}` is not an AWS region"),
            Some("write a region such as `us-east-1`".into()),
        ))
    }
}

/// An Application Load Balancer ARN in `region`:
/// `arn:aws[-cn|-us-gov]:elasticloadbalancing:<region>:<12 digits>:loadbalancer/app/<name>/<id>`.
pub fn check_alb_arn(s: &str, region: &str) -> Result<(), Problem> {
    let form = "expected `arn:aws:elasticloadbalancing:<region>:<12-digit account>:loadbalancer/app/<name>/<id>`";
    let bad = |why: &str| {
        Err((
            format!("`{s}` is not a valid ALB ARN: {why}"),
            Some(form.to_string()),
        ))
    };
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" {
        return bad("it must have six `:`-separated parts starting with `arn`");
    }
    if !matches!(parts[1], "aws" | "aws-cn" | "aws-us-gov") {
        return bad("the partition must be `aws`, `aws-cn` or `aws-us-gov`");
    }
    if parts[2] != "elasticloadbalancing" {
        return bad("the service must be `elasticloadbalancing`");
    }
    if parts[3] != region {
        return Err((
            format!(
                "ALB ARN `{s}` is in region `{}`, but the issuer's region is `{region}`",
                parts[3]
            ),
            Some("an ALB signs with keys of its own region: fix the ARN or the `region`".into()),
        ));
    }
    if parts[4].len() != 12 || !parts[4].bytes().all(|b| b.is_ascii_digit()) {
        return bad("the account must be 12 digits");
    }
    let res: Vec<&str> = parts[5].split('/').collect();
    let name_ok = |n: &str| {
        !n.is_empty() && n.len() <= 32 && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let id_ok = |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_hexdigit());
    if res.len() != 4
        || res[0] != "loadbalancer"
        || res[1] != "app"
        || !name_ok(res[2])
        || !id_ok(res[3])
    {
        return bad("the resource must be `loadbalancer/app/<name>/<hex id>`");
    }
    Ok(())
}

/// An RFC 3339 time → Unix seconds.
pub fn parse_time(s: &str) -> Result<u64, Problem> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .and_then(|t| u64::try_from(t.timestamp()).ok())
        .ok_or_else(|| {
            (
                format!("`{s}` is not an RFC 3339 time"),
                Some("write a time such as `2027-01-31T00:00:00Z`".into()),
            )
        })
}

/// Unix seconds → RFC 3339 (UTC), for messages.
pub fn format_time(t: u64) -> String {
    i64::try_from(t)
        .ok()
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map_or_else(
            || t.to_string(),
            |d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(check_email("alice@example.com").is_ok());
        assert!(check_email("a.b+c@sub.example.co").is_ok());
        for bad in [
            "alice@",
            "@x.com",
            "a@b",
            "a b@x.com",
            "a@@x.com",
            "a@x..com",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls() {
        assert!(check_issuer_url("https://dex.example.com").is_ok());
        assert!(check_issuer_url("https://oidc.eks.us-east-1.amazonaws.com/id/ABC").is_ok());
        // Kubeflow's in-cluster Dex names itself with http.
        assert!(check_issuer_url("http://dex.auth.svc.cluster.local:5556/dex").is_ok());
        assert!(check_issuer_url("http://dex.auth.svc/dex").is_ok());
        for bad in [
            "http://x.com",
            "http://svc.cluster.local.evil.com/dex",
            "ftp://dex.auth.svc",
            "https://",
            "https://x.com?a=1",
            "https://x.com#f",
            "https://u@x.com",
        ] {
            assert!(check_issuer_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn arns() {
        let good = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/kubeflow/50dc6c495c0c9188";
        assert!(check_alb_arn(good, "us-east-1").is_ok());
        assert!(check_alb_arn(good, "us-west-2").is_err());
        assert!(check_alb_arn(&good.replace("123456789012", "1234"), "us-east-1").is_err());
        assert!(check_alb_arn(&good.replace("/app/", "/net/"), "us-east-1").is_err());
        assert!(check_alb_arn(&good.replace("arn:aws:", "arn:aws-cn:"), "us-east-1").is_ok());
        assert!(check_region("us-gov-west-1").is_ok());
        assert!(check_region("useast1").is_err());
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("1970-01-01T00:01:00Z").ok(), Some(60));
        assert!(parse_time("tomorrow").is_err());
        assert_eq!(format_time(60), "1970-01-01T00:01:00Z");
    }
}
