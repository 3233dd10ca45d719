//! Test helpers shared by the filter's integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use gatehouse_filter::gate::{Host, Level};
use gatehouse_filter::live::FetchHost;

/// A local reply: status, headers, body.
pub type Reply = (u32, Vec<(String, String)>, String);

/// A host that records what the filter does.
pub struct MockHost {
    pub headers: Vec<(String, Vec<u8>)>,
    pub response: Option<Reply>,
    pub logs: Vec<String>,
    pub counters: Vec<String>,
    pub now: u64,
    /// The request's context id.
    pub context_id: u32,
    /// Key fetches dispatched: cluster, authority, path.
    pub fetches: Vec<(String, String, String)>,
    /// The extra request headers of each fetch (`if-none-match`).
    pub fetch_headers: Vec<Vec<(String, String)>>,
    /// Held requests the refresher let go.
    pub resumed: Vec<u32>,
    /// POSTs dispatched (a sign-in's code exchange): cluster, authority, path, headers, body.
    pub posts: Vec<Post>,
    /// The proxy's shared data (share it between hosts, as workers do, with `clone`).
    pub shared: std::rc::Rc<std::cell::RefCell<std::collections::HashMap<String, Vec<u8>>>>,
}

/// A POST a host dispatched.
#[derive(Debug, Clone)]
pub struct Post {
    pub cluster: String,
    pub authority: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl MockHost {
    pub fn new(headers: &[(&str, &str)]) -> MockHost {
        MockHost {
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect(),
            response: None,
            logs: vec![],
            counters: vec![],
            now: 1_800_000_000,
            context_id: 7,
            fetches: vec![],
            fetch_headers: vec![],
            resumed: vec![],
            posts: vec![],
            shared: Default::default(),
        }
    }

    /// Every value of a header of the local reply.
    pub fn reply_headers(&self, name: &str) -> Vec<String> {
        self.response
            .iter()
            .flat_map(|(_, h, _)| h.iter())
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }
}

impl Host for MockHost {
    fn request_headers(&self) -> Vec<(String, Vec<u8>)> {
        self.headers.clone()
    }
    fn remove_request_header(&mut self, name: &str) {
        self.headers.retain(|(k, _)| k != name);
    }
    fn set_request_header(&mut self, name: &str, value: &str) {
        self.remove_request_header(name);
        self.headers.push((name.into(), value.as_bytes().to_vec()));
    }
    fn respond(&mut self, status: u32, headers: &[(&str, &str)], body: &[u8]) {
        self.response = Some((
            status,
            headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            String::from_utf8_lossy(body).into_owned(),
        ));
    }
    fn now(&self) -> u64 {
        self.now
    }
    fn context_id(&self) -> u32 {
        self.context_id
    }
    fn shared_get(&self, key: &str) -> Option<Vec<u8>> {
        self.shared.borrow().get(key).cloned()
    }
    fn shared_set(&mut self, key: &str, value: &[u8]) {
        self.shared
            .borrow_mut()
            .insert(key.to_owned(), value.to_vec());
    }
}

impl FetchHost for MockHost {
    fn fetch(
        &mut self,
        cluster: &str,
        authority: &str,
        path: &str,
        _timeout_ms: u64,
    ) -> Result<u32, String> {
        self.fetch_with(cluster, authority, path, &[], 0)
    }
    fn fetch_with(
        &mut self,
        cluster: &str,
        authority: &str,
        path: &str,
        headers: &[(&str, &str)],
        _timeout_ms: u64,
    ) -> Result<u32, String> {
        self.fetches
            .push((cluster.into(), authority.into(), path.into()));
        self.fetch_headers.push(
            headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        Ok(self.fetches.len() as u32)
    }
    fn post(
        &mut self,
        cluster: &str,
        authority: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        _timeout_ms: u64,
    ) -> Result<u32, String> {
        self.posts.push(Post {
            cluster: cluster.into(),
            authority: authority.into(),
            path: path.into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: String::from_utf8_lossy(body).into_owned(),
        });
        Ok(1000 + self.posts.len() as u32)
    }
    fn resume(&mut self, context_id: u32) {
        self.resumed.push(context_id);
    }
    fn log(&mut self, _level: Level, message: &str) {
        self.logs.push(message.to_string());
    }
    fn count(&mut self, metric: &str) {
        self.counters.push(metric.to_string());
    }
}

/// A minimal table: public `/dex/**`, a notebook route, everything else authenticated.
pub fn engine_json() -> String {
    serde_json::json!({
        "format_version": 1,
        "gateway": {
            "user_header": "kubeflow-userid",
            "groups_header": "kubeflow-groups",
            "user_prefix": "",
            "groups_separator": ",",
            "leeway_seconds": 30,
            "precedence": "alb_first",
            "audit": {"all": false, "namespaces": []},
            "token_cache_size": 16
        },
        "actions": ["connect"],
        "roles": {"edit": ["connect"]},
        "issuers": [],
        "routes": [
            {"methods": [], "path": "/dex/**", "namespace_query": null, "namespace": null, "api": null, "access": "public", "source": "t"},
            {"methods": [], "path": "/**", "namespace_query": null, "namespace": null, "api": null, "access": "authenticated", "source": "t"},
            {"methods": [], "path": "/notebook/{namespace}/{api}/**", "namespace_query": null, "namespace": null, "api": null, "access": {"action": "connect"}, "source": "t"}
        ],
        "grants": {"team-a": {"user:alice@example.com": [{"role": "edit", "apis": null, "source": "t"}]}},
        "namespaces": ["team-a"]
    })
    .to_string()
}

/// Dex's public key `dex-1` (testdata/keys/dex.jwks.json) as a table's `jwk`.
pub fn dex_jwk() -> serde_json::Value {
    let jwks: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../testdata/keys/dex.jwks.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let k = &jwks["keys"][0];
    serde_json::json!({"kty": "RSA", "n": k["n"], "e": k["e"]})
}
