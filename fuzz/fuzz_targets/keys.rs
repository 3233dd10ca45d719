//! Key endpoint answers (live keys): the fuzzed bytes as the body (and `Cache-Control`) of a
//! JWKS fetch and of an ALB per-kid PEM fetch, with any status. Network input is hostile:
//! nothing may panic, a fetched set never holds more than `MAX_KEYS_PER_SET` keys, and a
//! refused answer keeps the keys the refresher had.
#![no_main]

use gatehouse_filter::gate::Level;
use gatehouse_filter::live::{
    FetchHost, KeyRefresh, KeySource, LiveIssuer, RefreshBounds, MAX_KEYS_PER_SET,
};
use libfuzzer_sys::fuzz_target;

const KID: &str = "0e1a3f9c-1b2c-4d5e-8f90-a1b2c3d4e5f6";

#[derive(Default)]
struct Host {
    tokens: Vec<u32>,
}

impl FetchHost for Host {
    fn fetch(&mut self, _: &str, _: &str, _: &str, _: u64) -> Result<u32, String> {
        let token = self.tokens.len() as u32 + 1;
        self.tokens.push(token);
        Ok(token)
    }
    fn resume(&mut self, _: u32) {}
    fn log(&mut self, _: Level, _: &str) {}
    fn count(&mut self, _: &str) {}
}

fn refresher() -> KeyRefresh {
    let issuer = |name: &str, source| LiveIssuer {
        name: name.into(),
        source,
        seed_kids: vec!["seed".into()],
    };
    let issuers = vec![
        issuer(
            "dex",
            KeySource::Jwks {
                cluster: "keys".into(),
                authority: "dex.example.com".into(),
                path: "/keys".into(),
            },
        ),
        issuer(
            "alb",
            KeySource::AlbPerKid {
                cluster: "alb".into(),
                authority: "public-keys.auth.elb.us-east-1.amazonaws.com".into(),
                path_prefix: "/".into(),
            },
        ),
    ];
    match KeyRefresh::new(issuers, RefreshBounds::default()) {
        Ok(r) => r,
        Err(e) => panic!("refresher: {e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let (status, rest) = match data.split_first() {
        Some((s, rest)) => (if *s < 200 { 200 } else { u32::from(*s) + 100 }, rest),
        None => (200, data),
    };
    let split = rest.iter().position(|b| *b == b'\n').unwrap_or(0);
    let cache = String::from_utf8_lossy(&rest[..split]).into_owned();
    let body = &rest[split..];
    let headers = vec![("cache-control".to_string(), cache)];

    let mut host = Host::default();
    let mut r = refresher();
    r.on_tick(1_000, &mut host);
    r.on_unknown_kid("alb", KID, 7, 1_000, &mut host);
    let [jwks, alb] = host.tokens[..] else {
        panic!("expected one JWKS and one ALB fetch, got {:?}", host.tokens);
    };
    r.on_response(jwks, status, &headers, body, 2_000, &mut host);
    r.on_response(alb, status, &headers, body, 2_000, &mut host);
    let kids = r.kids("dex");
    assert!(kids.len() <= MAX_KEYS_PER_SET, "{} keys", kids.len());
    if !r.is_authoritative("dex") {
        assert!(kids.is_empty(), "a refused set left keys behind: {kids:?}");
    }
    assert!(r.kids("alb").len() <= 1);
    // Later ticks never panic either, whatever the answer said about max-age.
    r.on_tick(u64::MAX / 2, &mut host);
});
