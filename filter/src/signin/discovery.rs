//! The issuer's endpoints, learned from its discovery document (OpenID Connect Discovery
//! 1.0, `/.well-known/openid-configuration`) off the request path, as a pure state machine
//! driven like the key refresher: the first fetch at the worker's first tick, a refetch every
//! hour, a failed one retried after 5 s, doubling up to 5 minutes. A document is taken only
//! when its `issuer` is the issuer's `iss` and its token endpoint is a URL the filter can
//! fetch; a bad or failed fetch keeps what was learned before.
//!
//! Counters, `gatehouse.signin.discovery.<event>`: `updated`, `refused`, `fetch_failed`.

use serde::Deserialize;

use crate::live::{FetchHost, FetchUrl};
use crate::observe::Level;
use crate::table::KeyFetchSpec;

/// Largest discovery document read, bytes.
pub const MAX_DISCOVERY_BYTES: usize = 64 * 1024;
/// Time between two fetches of a good document, milliseconds.
pub const REFRESH_MS: u64 = 3_600_000;
/// First retry after a failed fetch, milliseconds (doubling up to [`MAX_RETRY_MS`]).
pub const RETRY_MS: u64 = 5_000;
/// Longest wait between retries, milliseconds.
pub const MAX_RETRY_MS: u64 = 300_000;
/// Timeout of a discovery fetch, milliseconds.
pub const TIMEOUT_MS: u64 = 5_000;

/// What the discovery document says, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// `authorization_endpoint`.
    pub authorization: Option<String>,
    /// `token_endpoint`, with the cluster a fetch of it goes through.
    pub token: Option<(FetchUrl, String)>,
    /// `end_session_endpoint`.
    pub end_session: Option<String>,
}

/// The discovery of one issuer on one worker.
#[derive(Debug)]
pub struct Discovery {
    iss: String,
    issuer: String,
    url: FetchUrl,
    cluster: String,
    found: Option<Discovered>,
    in_flight: Option<u32>,
    next_ms: u64,
    failures: u32,
}

impl Discovery {
    /// The discovery of `issuer` (its name) whose `iss` is `iss`, from `spec`.
    pub fn new(issuer: &str, iss: &str, spec: &KeyFetchSpec) -> Result<Discovery, String> {
        let url = FetchUrl::parse(&spec.url).map_err(|e| {
            format!(
                "sign-in of issuer `{issuer}`: discovery `{}`: {e}",
                spec.url
            )
        })?;
        Ok(Discovery {
            iss: iss.to_owned(),
            issuer: issuer.to_owned(),
            url,
            cluster: spec.cluster.clone(),
            found: None,
            in_flight: None,
            next_ms: 0,
            failures: 0,
        })
    }

    /// Keeps what `old` learned when it read the same document.
    pub fn adopt(&mut self, old: &Discovery) {
        if old.url == self.url && old.iss == self.iss {
            self.found.clone_from(&old.found);
            self.next_ms = old.next_ms;
        }
    }

    /// What was learned, once a document was taken.
    pub fn found(&self) -> Option<&Discovered> {
        self.found.as_ref()
    }

    /// Whether the answer to fetch `token` is this discovery's.
    pub fn owns(&self, token: u32) -> bool {
        self.in_flight == Some(token)
    }

    /// A tick: fetches when due and none is under way.
    pub fn on_tick<H: FetchHost>(&mut self, now_ms: u64, host: &mut H) {
        if self.in_flight.is_some() || now_ms < self.next_ms {
            return;
        }
        match host.fetch(
            &self.cluster,
            &self.url.authority,
            &self.url.path,
            TIMEOUT_MS,
        ) {
            Ok(token) => self.in_flight = Some(token),
            Err(e) => self.failed(&format!("dispatch failed: {e}"), now_ms, host),
        }
    }

    /// The document arrived (any status).
    pub fn on_response<H: FetchHost>(
        &mut self,
        status: u32,
        body: &[u8],
        now_ms: u64,
        host: &mut H,
    ) {
        self.in_flight = None;
        if status != 200 {
            return self.failed(&format!("status {status}"), now_ms, host);
        }
        match read(body, &self.iss) {
            Ok(found) => {
                self.found = Some(found);
                self.failures = 0;
                self.next_ms = now_ms.saturating_add(REFRESH_MS);
                host.count("gatehouse.signin.discovery.updated");
            }
            Err(why) => {
                host.count("gatehouse.signin.discovery.refused");
                self.retry(now_ms);
                self.log(host, "refused", &why);
            }
        }
    }

    /// The fetch got no answer.
    pub fn on_failure<H: FetchHost>(&mut self, reason: &str, now_ms: u64, host: &mut H) {
        self.in_flight = None;
        self.failed(reason, now_ms, host);
    }

    fn failed<H: FetchHost>(&mut self, why: &str, now_ms: u64, host: &mut H) {
        host.count("gatehouse.signin.discovery.fetch_failed");
        self.retry(now_ms);
        self.log(host, "fetch_failed", why);
    }

    fn retry(&mut self, now_ms: u64) {
        let wait = RETRY_MS
            .saturating_mul(1u64 << self.failures.min(16))
            .min(MAX_RETRY_MS);
        self.failures = self.failures.saturating_add(1);
        self.next_ms = now_ms.saturating_add(wait);
    }

    fn log<H: FetchHost>(&self, host: &mut H, event: &str, why: &str) {
        let kept = if self.found.is_some() {
            "the endpoints learned before"
        } else {
            "the endpoints the policy names"
        };
        let line = serde_json::json!({"gatehouse": format!("signin_discovery_{event}"),
            "issuer": self.issuer, "detail": why, "kept": kept});
        host.log(Level::Warn, &line.to_string());
    }
}

/// Reads a discovery document of `iss` (never echoes it: it is network input).
fn read(body: &[u8], iss: &str) -> Result<Discovered, String> {
    #[derive(Deserialize)]
    struct Document {
        issuer: Option<String>,
        authorization_endpoint: Option<String>,
        token_endpoint: Option<String>,
        end_session_endpoint: Option<String>,
    }
    if body.len() > MAX_DISCOVERY_BYTES {
        return Err(format!("the document is over {MAX_DISCOVERY_BYTES} bytes"));
    }
    let doc: Document = serde_json::from_slice(body)
        .map_err(|_| "the document is not a JSON object".to_string())?;
    if doc.issuer.as_deref() != Some(iss) {
        return Err(
            "its `issuer` is not the issuer's `iss` (OpenID Connect Discovery §4.3)".into(),
        );
    }
    let token = match doc.token_endpoint {
        Some(t) => {
            let url = FetchUrl::parse(&t).map_err(|e| {
                format!("its `token_endpoint` is not a URL the gateway fetches: {e}")
            })?;
            let cluster = url.cluster_name();
            Some((url, cluster))
        }
        None => None,
    };
    // A browser is sent only to an `https://` endpoint: a discovery document read inside the
    // cluster names in-cluster `http://` addresses no browser reaches (Kubeflow's Dex).
    let browser = |u: Option<String>| u.filter(|u| u.starts_with("https://"));
    Ok(Discovered {
        authorization: browser(doc.authorization_endpoint),
        token,
        end_session: browser(doc.end_session_endpoint),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::observe::Level;

    #[derive(Default)]
    struct Host {
        fetched: Vec<(String, String, String)>,
        counts: Vec<String>,
        logs: Vec<String>,
    }

    impl FetchHost for Host {
        fn fetch(&mut self, c: &str, a: &str, p: &str, _: u64) -> Result<u32, String> {
            self.fetched.push((c.into(), a.into(), p.into()));
            Ok(self.fetched.len() as u32)
        }
        fn log(&mut self, _: Level, m: &str) {
            self.logs.push(m.into());
        }
        fn count(&mut self, m: &str) {
            self.counts.push(m.into());
        }
    }

    const ISS: &str = "http://dex.auth.svc.cluster.local:5556/dex";

    fn discovery() -> Discovery {
        let spec = KeyFetchSpec {
            url: format!("{ISS}/.well-known/openid-configuration"),
            cluster: "outbound|5556||dex.auth.svc.cluster.local".into(),
        };
        Discovery::new("dex", ISS, &spec).unwrap()
    }

    fn doc(issuer: &str) -> Vec<u8> {
        serde_json::json!({"issuer": issuer, "authorization_endpoint": format!("{ISS}/auth"),
            "token_endpoint": format!("{ISS}/token"), "jwks_uri": format!("{ISS}/keys")})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_good_document_is_taken_and_refetched_hourly() {
        let (mut d, mut h) = (discovery(), Host::default());
        d.on_tick(1_000, &mut h);
        assert_eq!(h.fetched[0].2, "/dex/.well-known/openid-configuration");
        assert_eq!(h.fetched[0].1, "dex.auth.svc.cluster.local:5556");
        assert!(d.owns(1));
        d.on_tick(1_250, &mut h);
        assert_eq!(h.fetched.len(), 1, "one fetch at a time");
        d.on_response(200, &doc(ISS), 1_300, &mut h);
        let found = d.found().unwrap();
        assert_eq!(
            found.authorization, None,
            "an in-cluster `http://` page is not for browsers"
        );
        let (token, cluster) = found.token.as_ref().unwrap();
        assert_eq!(
            (token.path.as_str(), cluster.as_str()),
            ("/dex/token", "outbound|5556||dex.auth.svc.cluster.local")
        );
        assert_eq!(found.end_session, None);
        d.on_tick(1_300 + REFRESH_MS - 1, &mut h);
        assert_eq!(h.fetched.len(), 1);
        d.on_tick(1_300 + REFRESH_MS, &mut h);
        assert_eq!(h.fetched.len(), 2);
    }

    #[test]
    fn a_bad_or_failed_fetch_keeps_what_was_learned_and_backs_off() {
        let (mut d, mut h) = (discovery(), Host::default());
        d.on_tick(0, &mut h);
        d.on_response(200, &doc(ISS), 0, &mut h);
        let good = d.found().cloned();
        for (status, body, counter) in [
            (200, doc("https://evil.example"), "refused"),
            (200, b"<html>".to_vec(), "refused"),
            (200, vec![b' '; MAX_DISCOVERY_BYTES + 1], "refused"),
            (500, doc(ISS), "fetch_failed"),
        ] {
            d.next_ms = 0;
            d.on_tick(10, &mut h);
            d.on_response(status, &body, 10, &mut h);
            assert_eq!(d.found().cloned(), good, "{counter}");
            assert_eq!(
                h.counts.last().unwrap(),
                &format!("gatehouse.signin.discovery.{counter}")
            );
        }
        let logs = h.logs.join("\n");
        assert!(
            !logs.contains("<html>") && logs.contains("`issuer`"),
            "{logs}"
        );
        // Retries double: 5 s, 10 s, 20 s, 40 s, … up to 5 minutes.
        let (mut d, mut h) = (discovery(), Host::default());
        let mut at = 0;
        let mut waits = Vec::new();
        for _ in 0..8 {
            d.on_tick(at, &mut h);
            d.on_failure("timeout", at, &mut h);
            waits.push(d.next_ms - at);
            at = d.next_ms;
        }
        assert_eq!(
            waits,
            [5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000]
        );
    }

    #[test]
    fn a_token_endpoint_the_gateway_cannot_fetch_is_refused() {
        let (mut d, mut h) = (discovery(), Host::default());
        d.on_tick(0, &mut h);
        let body =
            serde_json::json!({"issuer": ISS, "token_endpoint": "http://token.example.com/t"})
                .to_string();
        d.on_response(200, body.as_bytes(), 0, &mut h);
        assert!(d.found().is_none());
        assert!(h.logs[0].contains("token_endpoint"), "{:?}", h.logs);
    }
}
