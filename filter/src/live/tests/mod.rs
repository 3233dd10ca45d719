//! Refresher tests: a recording mock host, a fake clock, key bodies from `testdata/keys`.

mod alb;
mod body;
mod bounds;
mod jwks;

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{FetchHost, KeyRefresh, KeySource, LiveIssuer, RefreshBounds, UnknownKid};
use crate::observe::Level;

macro_rules! key_file {
    ($name:literal) => {
        include_str!(concat!("../../../../testdata/keys/", $name))
    };
}
pub(crate) use key_file;

pub const DEX: &str = "https://dex.example.com";
pub const ALB: &str = "alb";
pub const START_MS: u64 = 1_700_000_000_000;

/// One fetch the refresher dispatched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    pub token: u32,
    pub cluster: String,
    pub authority: String,
    pub path: String,
    pub timeout_ms: u64,
}

/// Records everything the refresher asks of the host.
#[derive(Debug, Default)]
pub struct MockHost {
    pub fetches: Vec<Fetch>,
    pub refuse_dispatch: bool,
    pub resumed: Vec<u32>,
    pub logs: Vec<(Level, String)>,
    pub counts: BTreeMap<String, u32>,
}

impl FetchHost for MockHost {
    fn fetch(
        &mut self,
        cluster: &str,
        authority: &str,
        path: &str,
        timeout_ms: u64,
    ) -> Result<u32, String> {
        if self.refuse_dispatch {
            return Err("cluster not found".into());
        }
        let token = 100 + self.fetches.len() as u32;
        self.fetches.push(Fetch {
            token,
            cluster: cluster.into(),
            authority: authority.into(),
            path: path.into(),
            timeout_ms,
        });
        Ok(token)
    }

    fn resume(&mut self, context_id: u32) {
        self.resumed.push(context_id);
    }

    fn log(&mut self, level: Level, message: &str) {
        self.logs.push((level, message.to_owned()));
    }

    fn count(&mut self, metric: &str) {
        *self.counts.entry(metric.to_owned()).or_default() += 1;
    }
}

/// A refresher, its host and a fake clock.
pub struct World {
    pub refresh: KeyRefresh,
    pub host: MockHost,
    pub now: u64,
}

pub fn dex_source() -> KeySource {
    KeySource::Jwks {
        cluster: "outbound|5556||dex.auth.svc.cluster.local".into(),
        authority: "dex.auth.svc.cluster.local:5556".into(),
        path: "/dex/keys".into(),
    }
}

pub fn alb_source() -> KeySource {
    KeySource::AlbPerKid {
        cluster: "alb-keys".into(),
        authority: "public-keys.auth.elb.us-east-1.amazonaws.com".into(),
        path_prefix: "/".into(),
    }
}

impl World {
    /// A Dex issuer (seed `dex-1`) and an ALB issuer, with `bounds`.
    pub fn with(bounds: RefreshBounds) -> World {
        let issuers = vec![
            LiveIssuer {
                name: DEX.into(),
                source: dex_source(),
                seed_kids: vec!["dex-1".into()],
            },
            LiveIssuer {
                name: ALB.into(),
                source: alb_source(),
                seed_kids: vec![],
            },
        ];
        match KeyRefresh::new(issuers, bounds) {
            Ok(refresh) => World {
                refresh,
                host: MockHost::default(),
                now: START_MS,
            },
            Err(e) => unreachable!("{e}"),
        }
    }

    pub fn new() -> World {
        World::with(RefreshBounds::default())
    }

    pub fn advance(&mut self, ms: u64) {
        self.now += ms;
    }

    pub fn tick(&mut self) {
        self.refresh.on_tick(self.now, &mut self.host);
    }

    pub fn answer(&mut self, token: u32, status: u32, headers: &[(&str, &str)], body: &[u8]) {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        self.refresh
            .on_response(token, status, &headers, body, self.now, &mut self.host);
    }

    pub fn unknown(&mut self, issuer: &str, kid: &str, context_id: u32) -> UnknownKid {
        self.refresh
            .on_unknown_kid(issuer, kid, context_id, self.now, &mut self.host)
    }

    /// The counter `gatehouse.keys.<issuer>.<event>`, 0 when never counted.
    pub fn count(&self, issuer: &str, event: &str) -> u32 {
        let name = format!(
            "gatehouse.keys.{}.{event}",
            issuer.replace([':', '/', '.'], "_")
        );
        self.host.counts.get(&name).copied().unwrap_or(0)
    }

    /// The token of the last fetch dispatched.
    pub fn last_token(&self) -> u32 {
        match self.host.fetches.last() {
            Some(f) => f.token,
            None => unreachable!("no fetch dispatched"),
        }
    }

    /// The first tick fetches Dex; this answers it with `dex-1` only.
    pub fn warmed() -> World {
        let mut w = World::new();
        w.tick();
        let token = w.last_token();
        w.answer(token, 200, &[], jwks(&[("dex-1", DEX_KEY)]).as_bytes());
        w
    }
}

/// Which test key a JWKS entry holds.
#[derive(Clone, Copy)]
pub struct TestKey(&'static str);

pub const DEX_KEY: TestKey = TestKey(key_file!("dex.jwks.json"));
pub const COGNITO_KEY: TestKey = TestKey(key_file!("cognito.jwks.json"));
pub const EKS_KEY: TestKey = TestKey(key_file!("eks-sa.jwks.json"));

/// A JWKS document holding the given test keys under the given kids.
pub fn jwks(keys: &[(&str, TestKey)]) -> String {
    let keys: Vec<Value> = keys
        .iter()
        .map(|(kid, TestKey(file))| {
            let doc: Value = serde_json::from_str(file).unwrap_or(Value::Null);
            let mut key = doc["keys"][0].clone();
            key["kid"] = json!(kid);
            key
        })
        .collect();
    json!({ "keys": keys }).to_string()
}

/// Deterministic random UUIDs (xorshift), lower-case.
pub fn random_uuids(n: usize, mut seed: u64) -> Vec<String> {
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    (0..n)
        .map(|_| {
            let (a, b) = (next(), next());
            let hex = format!("{a:016x}{b:016x}");
            format!(
                "{}-{}-{}-{}-{}",
                &hex[0..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..32]
            )
        })
        .collect()
}
