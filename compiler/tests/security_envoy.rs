//! Security behaviour through a real Envoy that the hostile corpora cannot show with one
//! request each: host-scoped public paths (the request's `Host` / `:authority` decides),
//! a key retired while tokens it verified sit in the verified-token cache, and the `Allow`
//! header of a `405 method_not_allowed`, over HTTP/1.1 and HTTP/2.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gatehouse::{compile_dir, table_json, CompileOptions};
use gatehouse_filter::token::mint::{sign_jwt, SigningKey};
use harness::{prerequisites, root, send_h2, Gateway, H2Connection, KeepAlive};
use serde_json::{json, Value};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The table of `policies/`, as JSON, for a test to change.
fn policies_table() -> Value {
    let compiled = compile_dir(&root().join("policies"), &CompileOptions { now: now() }).unwrap();
    serde_json::from_str(&table_json(&compiled.table).unwrap()).unwrap()
}

fn dex_token(email: &str) -> String {
    let pem = std::fs::read_to_string(root().join("testdata/keys/dex-rsa.key.pem")).unwrap();
    let key = SigningKey::from_pem(&pem).unwrap();
    let t = now();
    let claims = json!({"iss": "https://dex.example.com", "aud": "kubeflow-oidc-authservice",
        "email": email, "email_verified": true, "iat": t, "exp": t + 600});
    sign_jwt(&key, "RS256", &json!({"kid": "dex-1"}), &claims).unwrap()
}

#[test]
fn public_paths_scoped_to_a_host_are_public_on_that_host_only() {
    let Some((envoy, wasm)) = prerequisites() else {
        return;
    };
    let mut table = policies_table();
    let mut scoped = 0;
    for r in table["routes"].as_array_mut().unwrap() {
        if r["path"] == "/dex/**" {
            r["hosts"] = json!(["dex.example.com"]);
            scoped += 1;
        }
    }
    assert_eq!(scoped, 1, "policies/ has one public /dex/ path");
    let gw = Gateway::start(&envoy, &wasm, &table.to_string());
    for host in ["dex.example.com", "DEX.example.com:8080"] {
        let r = gw.send("GET", "/dex/auth", &[("host", host)]);
        assert_eq!(r.status, 200, "HTTP/1.1 {host}: {}", r.body);
        let r = send_h2(gw.port, "GET", "/dex/auth", &[(":authority", host)]);
        assert_eq!(r.status, 200, "HTTP/2 {host}: {}", r.body);
        assert!(r.upstream_header("kubeflow-userid").is_empty());
    }
    for host in [
        "kubeflow.example.com",
        "dex.example.com.evil.net",
        "evil-dex.example.com",
    ] {
        let r = gw.send("GET", "/dex/auth", &[("host", host)]);
        assert_eq!(
            (r.status, r.reason().as_str()),
            (401, "no_identity"),
            "HTTP/1.1 {host}"
        );
        let r = send_h2(gw.port, "GET", "/dex/auth", &[(":authority", host)]);
        assert_eq!(
            (r.status, r.reason().as_str()),
            (401, "no_identity"),
            "HTTP/2 {host}"
        );
    }
}

#[test]
fn a_retired_key_stops_cached_tokens_on_open_connections() {
    let Some((envoy, wasm)) = prerequisites() else {
        return;
    };
    let mut table = policies_table();
    let retire_at = now() + 4;
    for issuer in table["issuers"].as_array_mut().unwrap() {
        if issuer["name"] == "dex" {
            for key in issuer["keys"].as_array_mut().unwrap() {
                key["not_after"] = json!(retire_at);
            }
        }
    }
    let gw = Gateway::start(&envoy, &wasm, &table.to_string());
    let auth = format!("Bearer {}", dex_token("alice@example.com"));
    let headers = [("authorization", auth.as_str())];
    let path = "/notebook/alice/nb/";
    let mut h1 = KeepAlive::open(gw.port);
    let mut h2 = H2Connection::open(gw.port);
    // Verified once, then served from the cache, on both connections.
    for _ in 0..2 {
        assert_eq!(h1.send("GET", path, &headers).status, 200);
        assert_eq!(h2.send("GET", path, &headers).status, 200);
    }
    let stats = gw.admin_get("/stats/prometheus");
    let hits = stats
        .lines()
        .find(|l| l.starts_with("gatehouse_token_cache_hit"))
        .and_then(|l| l.split_whitespace().last()?.parse::<u64>().ok());
    assert!(hits.is_some_and(|h| h >= 2), "the token is cached: {stats}");
    while now() <= retire_at {
        std::thread::sleep(Duration::from_millis(200));
    }
    // The token's own exp is ten minutes away; its key is retired: refused at once.
    for r in [
        h1.send("GET", path, &headers),
        h2.send("GET", path, &headers),
        gw.send("GET", path, &headers),
    ] {
        assert_eq!(
            (r.status, r.reason().as_str()),
            (401, "unknown_kid"),
            "{}",
            r.body
        );
    }
}

#[test]
fn unlisted_methods_get_405_with_allow_over_both_protocols() {
    let Some((envoy, wasm)) = prerequisites() else {
        return;
    };
    let gw = Gateway::start(&envoy, &wasm, &policies_table().to_string());
    let auth = format!("Bearer {}", dex_token("carol@example.com"));
    let path = "/serving/v1/namespaces/models/apis/fraud-model";
    for method in ["PATCH", "PROPFIND"] {
        let h1 = gw.send(method, path, &[("authorization", &auth)]);
        let h2 = send_h2(gw.port, method, path, &[("authorization", &auth)]);
        for (proto, r) in [("HTTP/1.1", h1), ("HTTP/2", h2)] {
            assert_eq!(
                (r.status, r.reason().as_str()),
                (405, "method_not_allowed"),
                "{proto} {method}"
            );
            assert_eq!(
                r.header("allow"),
                Some("DELETE, GET, HEAD, POST, PUT"),
                "{proto} {method}"
            );
        }
    }
}

#[test]
fn refused_paths_reach_the_log_escaped_and_without_query_values() {
    let Some((envoy, wasm)) = prerequisites() else {
        return;
    };
    let gw = Gateway::start(&envoy, &wasm, &policies_table().to_string());
    let r = gw.send("GET", "/notebook/alice%2fbob/x?token=s3cret", &[]);
    assert_eq!((r.status, r.reason().as_str()), (400, "bad_path"));
    let r = gw.send(
        "GET",
        "/pipeline/apis/v2beta1/runs?namespace=alice&namespace[]=bob&key=s3cret",
        &[],
    );
    assert_eq!(
        (r.status, r.reason().as_str()),
        (400, "ambiguous_namespace")
    );
    let log = gw.log_when(Duration::from_secs(10), |l| {
        l.matches("\"gatehouse\":\"deny\"").count() >= 2
    });
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("\"gatehouse\":\"deny\""))
        .collect();
    eprintln!("{}", lines.join("\n"));
    assert!(
        lines[0].contains(r#""path":"/notebook/alice%2fbob/x""#),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains(r#""path":"/pipeline/apis/v2beta1/runs""#),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].contains(r#""detail":"query parameters: namespace,namespace[],key""#),
        "{}",
        lines[1]
    );
    assert!(!log.contains("s3cret"));
}

/// The table of `testdata/policies/good/<dir>` with the issuers of `policies/` (its test
/// keys), as JSON.
fn good_policy_with_issuers(dir: &str) -> String {
    let dir = root().join("testdata/policies/good").join(dir);
    let compiled = compile_dir(&dir, &CompileOptions { now: now() }).unwrap();
    let mut table: Value = serde_json::from_str(&table_json(&compiled.table).unwrap()).unwrap();
    table["issuers"] = policies_table()["issuers"].clone();
    table.to_string()
}

/// An EKS ServiceAccount token for `namespace:name`, signed with the test key of `policies/`.
fn service_account_token(namespace: &str, name: &str) -> String {
    let pem = std::fs::read_to_string(root().join("testdata/keys/eks-sa-rsa.key.pem")).unwrap();
    let key = SigningKey::from_pem(&pem).unwrap();
    let t = now();
    let claims = json!({"iss": "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE",
        "aud": ["gatehouse"], "sub": format!("system:serviceaccount:{namespace}:{name}"),
        "iat": t, "exp": t + 600});
    sign_jwt(&key, "RS256", &json!({"kid": "eks-sa-1"}), &claims).unwrap()
}

#[test]
fn model_hosts_give_the_namespace_so_other_namespaces_service_accounts_are_refused() {
    let Some((envoy, wasm)) = prerequisites() else {
        return;
    };
    // testdata/policies/good/host-captures routes inference by `{api}.{namespace}.models…`
    // and `{api}-predictor.{namespace}.svc.cluster.local`.
    let gw = Gateway::start(&envoy, &wasm, &good_policy_with_issuers("host-captures"));
    let owner = format!("Bearer {}", service_account_token("team-a", "deployer"));
    let other = format!("Bearer {}", service_account_token("team-b", "deployer"));
    for (host, path) in [
        (
            "churn.team-a.models.example.com",
            "/v1/models/churn:predict",
        ),
        (
            "churn-predictor.team-a.svc.cluster.local",
            "/v2/models/churn/infer",
        ),
        (
            "CHURN.team-a.models.example.com.:443",
            "/v1/models/churn:predict",
        ),
    ] {
        let r = gw.send("POST", path, &[("host", host), ("authorization", &owner)]);
        assert_eq!(r.status, 200, "owner on {host}: {}", r.body);
        assert_eq!(
            r.upstream_header("kubeflow-userid"),
            ["system:serviceaccount:team-a:deployer"]
        );
        let r = gw.send("POST", path, &[("host", host), ("authorization", &other)]);
        assert_eq!(
            (r.status, r.reason()),
            (403, "not_permitted".to_string()),
            "another namespace's ServiceAccount on {host}: {}",
            r.body
        );
        let r = send_h2(
            gw.port,
            "POST",
            path,
            &[(":authority", host), ("authorization", &other)],
        );
        assert_eq!(r.status, 403, "HTTP/2 {host}: {}", r.body);
    }
    // The owner's ServiceAccount on another team's model host.
    let r = gw.send(
        "POST",
        "/v1/models/churn:predict",
        &[
            ("host", "churn.team-b.models.example.com"),
            ("authorization", &owner),
        ],
    );
    assert_eq!(r.status, 403, "{}", r.body);
}

#[test]
fn the_kserve_route_map_refuses_other_namespaces_by_path_and_by_host() {
    let Some((envoy, wasm)) = prerequisites() else {
        return;
    };
    let gw = Gateway::start(&envoy, &wasm, &good_policy_with_issuers("kserve"));
    let owner = format!(
        "Bearer {}",
        service_account_token("team-a", "default-editor")
    );
    let other = format!(
        "Bearer {}",
        service_account_token("team-b", "default-editor")
    );
    for (host, path) in [
        (
            "kubeflow.example.com",
            "/serving/team-a/churn/v1/models/churn:predict",
        ),
        (
            "churn.team-a.models.example.com",
            "/v1/models/churn:predict",
        ),
        (
            "churn-predictor.team-a.svc.cluster.local",
            "/v2/models/churn/infer",
        ),
        // The model server's other calls are the model's too.
        (
            "kubeflow.example.com",
            "/serving/team-a/churn/v2/models/churn/versions/3/infer",
        ),
        (
            "churn.team-a.models.example.com",
            "/openai/v1/chat/completions",
        ),
    ] {
        let r = gw.send("POST", path, &[("host", host), ("authorization", &owner)]);
        assert_eq!(r.status, 200, "team-a on {host}{path}: {}", r.body);
        let r = gw.send("POST", path, &[("host", host), ("authorization", &other)]);
        assert_eq!(
            (r.status, r.reason()),
            (403, "not_permitted".to_string()),
            "team-b on {host}{path}: {}",
            r.body
        );
    } // `:explain` is an action of its own: the owner's ServiceAccount may predict, not explain,
      // however the colon is spelled; an editor of the namespace (kubeflow-edit) explains.
    let editor = format!("Bearer {}", dex_token("dave@example.com"));
    for (host, path) in [
        (
            "kubeflow.example.com",
            "/serving/team-a/churn/v1/models/churn:explain",
        ),
        (
            "churn.team-a.models.example.com",
            "/v1/models/churn:explain",
        ),
        (
            "churn.team-a.models.example.com",
            "/v1/models/churn%3Aexplain",
        ),
        (
            "churn.team-a.models.example.com",
            "/v1/models/churn%3aexplain",
        ),
    ] {
        let r = gw.send("POST", path, &[("host", host), ("authorization", &owner)]);
        assert_eq!(
            (r.status, r.reason()),
            (403, "not_permitted".to_string()),
            "explain by a predict-only ServiceAccount on {host}{path}: {}",
            r.body
        );
        let r = gw.send("POST", path, &[("host", host), ("authorization", &editor)]);
        assert_eq!(r.status, 200, "editor on {host}{path}: {}", r.body);
        assert_eq!(r.upstream_header("kubeflow-userid"), ["dave@example.com"]);
    }
}

/// An ES256 `x-amzn-oidc-data` of the hostile policies' `corp-alb` issuer and the Cognito
/// access token beside it, both for `email` (its `sub`), the access token with `groups`.
fn alb_and_access(email: &str, sub_of_access: &str, groups: &[&str]) -> (String, String) {
    use gatehouse_filter::token::mint::{sign_alb, Padding};
    let key = |f: &str| {
        let pem = std::fs::read_to_string(root().join("testdata/keys").join(f)).unwrap();
        SigningKey::from_pem(&pem).unwrap()
    };
    let t = now();
    let arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/kubeflow/50dc6c495c0c9188";
    let data = sign_alb(
        &key("alb-1.key.pem"),
        &json!({"kid": "alb-1", "signer": arn, "client": "kubeflow-alb", "exp": t + 120}),
        &json!({"sub": email, "email": email, "email_verified": "true", "exp": t + 120}),
        Padding::Padded,
    )
    .unwrap();
    let access = sign_jwt(
        &key("cognito-rsa.key.pem"),
        "RS256",
        &json!({"kid": "cognito-1"}),
        &json!({"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example",
            "sub": sub_of_access, "token_use": "access", "client_id": "kubeflow-alb",
            "cognito:groups": groups, "iat": t, "exp": t + 600}),
    )
    .unwrap();
    (data, access)
}

#[test]
fn cognito_groups_from_the_albs_access_token_reach_the_upstream_and_decide() {
    let Some((envoy, wasm)) = prerequisites() else {
        return;
    };
    let table = std::fs::read_to_string(root().join("testdata/hostile/table.json")).unwrap();
    let gw = Gateway::start(&envoy, &wasm, &table);
    // Carol holds nothing in `research`; the group `cognito:ml-team` may list there.
    let path = "/jupyter/api/namespaces/research/notebooks";
    let (data, access) = alb_and_access("carol@example.com", "carol@example.com", &["ml-team"]);
    for _ in 0..2 {
        // The second time through the verified-token cache.
        let r = gw.send(
            "GET",
            path,
            &[
                ("x-amzn-oidc-data", &data),
                ("x-amzn-oidc-accesstoken", &access),
            ],
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.upstream_header("kubeflow-userid"), ["carol@example.com"]);
        assert_eq!(r.upstream_header("kubeflow-groups"), ["cognito:ml-team"]);
        // Both ALB headers verified, so both go on.
        assert_eq!(
            r.upstream_header("x-amzn-oidc-accesstoken"),
            [access.as_str()]
        );
        assert_eq!(r.upstream_header("x-amzn-oidc-data"), [data.as_str()]);
    }
    // Without the access token: no groups, so the binding does not hold.
    let r = gw.send("GET", path, &[("x-amzn-oidc-data", &data)]);
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("not_permitted"), "{}", r.body);
    // Another user's access token (bob's groups) beside carol's ALB token.
    let (_, bobs) = alb_and_access("carol@example.com", "bob@example.com", &["ml-team"]);
    let r = gw.send(
        "GET",
        path,
        &[
            ("x-amzn-oidc-data", &data),
            ("x-amzn-oidc-accesstoken", &bobs),
        ],
    );
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("access_token_other_user"), "{}", r.body);
    // Groups the pool did not sign: refused, never used.
    let forged = {
        let (h, rest) = access.split_once('.').unwrap();
        let sig = rest.rsplit_once('.').unwrap().1;
        let claims = json!({"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example",
            "sub": "carol@example.com", "token_use": "access", "client_id": "kubeflow-alb",
            "cognito:groups": ["ml-team", "platform-admins"], "exp": now() + 600});
        let p = gatehouse_filter::token::encoding::b64_encode(claims.to_string().as_bytes());
        format!("{h}.{p}.{sig}")
    };
    let r = gw.send(
        "GET",
        path,
        &[
            ("x-amzn-oidc-data", &data),
            ("x-amzn-oidc-accesstoken", &forged),
        ],
    );
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("bad_signature"), "{}", r.body);
}
