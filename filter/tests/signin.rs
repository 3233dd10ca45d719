//! Browser sign-in through the request path, with a mock host standing in for Envoy and the
//! provider: a browser is sent to sign in, the callback's code is exchanged (the POST is
//! checked), the token endpoint's answer gives a session cookie that later requests ride,
//! and sign-out ends it. Every hostile case is refused with its documented reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use common::{dex_jwk, engine_json, MockHost};
use gatehouse_filter::gate::{Filter, Outcome};
use gatehouse_filter::signin::Exchange;
use gatehouse_filter::token::mint::{sign_jwt, SigningKey};
use gatehouse_filter::DenyReason;
use serde_json::json;

const NOW: u64 = 1_800_000_000;
const ISS: &str = "http://dex.auth.svc.cluster.local:5556/dex";
const CLIENT: &str = "kubeflow-oidc-authservice";
const KEYS: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
const OTHER_KEYS: &str = "k1:HxwdHhsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA";
const ORIGIN: &str = "https://kubeflow.example.com";

fn table() -> String {
    let mut t: serde_json::Value = serde_json::from_str(&engine_json()).unwrap();
    t["issuers"] = json!([{"type": "jwt", "name": "dex", "issuer": ISS,
    "audiences": [CLIENT], "algorithms": ["RS256"], "user_claim": "email",
    "groups_claim": "groups", "groups_prefix": "", "max_lifetime_seconds": null,
    "keys": [{"kid": "dex-1", "jwk": dex_jwk(), "source": "dex.jwks.json", "not_after": null}],
    "sign_in": {
        "client_id": CLIENT, "client_secret_env": "DEX_SECRET", "cookie_keys_env": "COOKIE_KEYS",
        "authorization_endpoint": "/dex/auth",
        "token_endpoint": {"url": format!("{ISS}/token"), "cluster": "outbound|5556||dex.auth.svc.cluster.local"},
        "end_session_endpoint": null,
        "redirect_path": "/oauth2/callback", "sign_out_path": "/oauth2/sign_out", "post_sign_out": "/",
        "scopes": ["openid", "email", "groups"], "cookie_name": "__Host-gatehouse",
        "browser_paths": ["/"]
    }}]);
    t.to_string()
}

fn filter_with(keys: &'static str) -> Filter {
    let mut f = Filter::default().with_env(move |name| match name {
        "DEX_SECRET" => Some("s3cret".into()),
        "COOKIE_KEYS" => Some(keys.into()),
        _ => None,
    });
    f.configure(Some(table().as_bytes())).unwrap();
    f
}

fn id_token(claims: serde_json::Value) -> String {
    let pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/keys/dex-rsa.key.pem"
    ))
    .unwrap();
    sign_jwt(
        &SigningKey::from_pem(&pem).unwrap(),
        "RS256",
        &json!({"kid": "dex-1"}),
        &claims,
    )
    .unwrap()
}

fn alice(nonce: &str) -> serde_json::Value {
    json!({"iss": ISS, "aud": CLIENT, "email": "alice@example.com", "email_verified": true,
        "groups": ["ml-team"], "iat": NOW - 5, "exp": NOW + 3600, "nonce": nonce})
}

fn browser(path: &str, cookies: &str) -> MockHost {
    let mut h = MockHost::new(&[
        (":method", "GET"),
        (":path", path),
        (":authority", "kubeflow.example.com"),
        (":scheme", "http"),
        ("x-forwarded-proto", "https"),
        ("accept", "text/html,application/xhtml+xml"),
        ("sec-fetch-mode", "navigate"),
    ]);
    if !cookies.is_empty() {
        h.headers
            .push(("cookie".into(), cookies.as_bytes().to_vec()));
    }
    h.now = NOW;
    h
}

/// `name=value` of every cookie a reply sets with a value (cleared ones left out).
fn set_cookies(h: &MockHost) -> Vec<(String, String)> {
    h.reply_headers("set-cookie")
        .iter()
        .filter_map(|c| {
            let (pair, _) = c.split_once(';')?;
            let (n, v) = pair.split_once('=')?;
            (!v.is_empty()).then(|| (n.to_owned(), v.to_owned()))
        })
        .collect()
}

fn cookie_header(cookies: &[(String, String)]) -> String {
    cookies
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn query_param(url: &str, name: &str) -> String {
    let q = url.split_once('?').unwrap().1;
    form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// A browser's sign-in up to the code exchange: the 302 to the issuer, then the callback.
struct SignedIn {
    signin_cookie: String,
    state: String,
    exchange: Exchange,
    callback: MockHost,
}

fn start(f: &mut Filter, path: &str) -> (MockHost, String, String) {
    let mut h = browser(path, "");
    let out = f.on_request(&mut h);
    assert_eq!(out, Outcome::Answered(302), "{:?}", h.response);
    let location = h.reply_headers("location").pop().unwrap();
    let cookies = set_cookies(&h);
    assert_eq!(cookies.len(), 1, "the sign-in cookie: {cookies:?}");
    let state = query_param(&location, "state");
    (h, cookie_header(&cookies), state)
}

fn to_exchange(f: &mut Filter, path: &str) -> SignedIn {
    let (_, signin_cookie, state) = start(f, path);
    let mut cb = browser(
        &format!("/oauth2/callback?code=the-code&state={state}"),
        &signin_cookie,
    );
    let out = f.on_request(&mut cb);
    let Outcome::Exchanging(exchange) = out else {
        panic!("{out:?} {:?}", cb.response)
    };
    SignedIn {
        signin_cookie,
        state,
        exchange: *exchange,
        callback: cb,
    }
}

fn sign_in(f: &mut Filter) -> (String, MockHost) {
    let s = to_exchange(f, "/notebook/team-a/nb/tree?x=1");
    let mut answer = browser("/oauth2/callback", "");
    let body = json!({"id_token": id_token(alice(&s.exchange.nonce)), "token_type": "Bearer"});
    let out = f.on_exchanged(&s.exchange, 200, body.to_string().as_bytes(), &mut answer);
    assert_eq!(out, Outcome::Answered(302), "{:?}", answer.response);
    let session = cookie_header(&set_cookies(&answer));
    (session, answer)
}

#[test]
fn a_browser_signs_in_with_pkce_and_rides_its_session_cookie() {
    let mut f = filter_with(KEYS);
    let (h, _, _) = start(&mut f, "/notebook/team-a/nb/tree?x=1");
    let location = h.reply_headers("location").pop().unwrap();
    assert!(
        location.starts_with("/dex/auth?response_type=code&client_id=kubeflow-oidc-authservice")
    );
    assert_eq!(
        query_param(&location, "redirect_uri"),
        format!("{ORIGIN}/oauth2/callback")
    );
    assert_eq!(query_param(&location, "code_challenge_method"), "S256");
    assert_eq!(query_param(&location, "code_challenge").len(), 43);
    let set = h.reply_headers("set-cookie").pop().unwrap();
    for attr in [
        "HttpOnly",
        "SameSite=Lax",
        "Secure",
        "Path=/",
        "Max-Age=600",
    ] {
        assert!(set.contains(attr), "{set}");
    }
    assert!(h.counters.contains(&"gatehouse.signin.started".into()));

    let s = to_exchange(&mut f, "/notebook/team-a/nb/tree?x=1");
    let post = &s.callback.posts[0];
    assert_eq!(
        (
            post.cluster.as_str(),
            post.authority.as_str(),
            post.path.as_str()
        ),
        (
            "outbound|5556||dex.auth.svc.cluster.local",
            "dex.auth.svc.cluster.local:5556",
            "/dex/token"
        )
    );
    let form: Vec<(String, String)> = form_urlencoded::parse(post.body.as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(get("grant_type"), "authorization_code");
    assert_eq!(get("code"), "the-code");
    assert_eq!(get("redirect_uri"), format!("{ORIGIN}/oauth2/callback"));
    // The verifier sent is the one whose challenge went to the issuer.
    let challenge = ring::digest::digest(&ring::digest::SHA256, get("code_verifier").as_bytes());
    assert_eq!(s.state.len(), 32);
    let auth = post
        .headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .unwrap();
    assert_eq!(
        auth.1,
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT}:s3cret"))
        )
    );
    assert_eq!(B64.encode(challenge.as_ref()).len(), 43);

    let (session, answer) = sign_in(&mut f);
    assert_eq!(
        answer.reply_headers("location"),
        ["/notebook/team-a/nb/tree?x=1"]
    );
    assert!(answer
        .counters
        .contains(&"gatehouse.signin.completed".into()));
    assert!(
        session.starts_with("__Host-gatehouse=1.v1.k1."),
        "{session}"
    );
    // The sign-in cookie is cleared.
    assert!(answer
        .reply_headers("set-cookie")
        .iter()
        .any(|c| c.starts_with("__Host-gatehouse-signin=;") && c.contains("Max-Age=0")));
    // No log line holds the token or the cookie.
    for line in &answer.logs {
        assert!(!line.contains("eyJ") && !line.contains("v1.k1."), "{line}");
    }

    // The session rides: the upstream sees the user, not the cookie; the second request is a
    // cache hit (no signature check).
    let mut r1 = browser(
        "/notebook/team-a/nb/api/kernels",
        &format!("{session}; _xsrf=abc"),
    );
    assert_eq!(
        f.on_request(&mut r1),
        Outcome::Continue,
        "{:?}",
        r1.response
    );
    assert_eq!(
        r1.header("kubeflow-userid").as_deref(),
        Some("alice@example.com")
    );
    assert_eq!(r1.header("kubeflow-groups").as_deref(), Some("ml-team"));
    assert_eq!(
        r1.header("cookie").as_deref(),
        Some("_xsrf=abc"),
        "the session cookie is kept from the upstream"
    );
    assert!(r1.counters.contains(&"gatehouse.token_cache.miss".into()));
    let mut r2 = browser("/notebook/team-a/nb/", &session);
    assert_eq!(f.on_request(&mut r2), Outcome::Continue);
    assert!(r2.counters.contains(&"gatehouse.token_cache.hit".into()));
    assert_eq!(r2.header("cookie"), None);
    assert!(r2.posts.is_empty());
    // Not permitted stays 403 for a signed-in browser (no loop through the issuer).
    let mut r3 = browser("/notebook/team-b/nb/", &session);
    assert_eq!(
        f.on_request(&mut r3),
        Outcome::Denied(DenyReason::NotPermitted)
    );
}

#[test]
fn api_clients_get_401_and_browsers_are_sent_to_sign_in() {
    let mut f = filter_with(KEYS);
    for (headers, why) in [
        (vec![("accept", "application/json")], "asks for JSON"),
        (
            vec![
                ("accept", "text/html"),
                ("x-requested-with", "XMLHttpRequest"),
            ],
            "XHR",
        ),
        (
            vec![("accept", "text/html"), ("sec-fetch-mode", "cors")],
            "fetch()",
        ),
        (
            vec![("accept", "text/html"), ("authorization", "Bearer x.y.z")],
            "a bad bearer token",
        ),
    ] {
        let mut all = vec![
            (":method", "GET"),
            (":path", "/notebook/team-a/nb/"),
            (":authority", "kubeflow.example.com"),
        ];
        all.extend(headers);
        let mut h = MockHost::new(&all);
        h.now = NOW;
        let out = f.on_request(&mut h);
        assert!(matches!(out, Outcome::Denied(_)), "{why}: {out:?}");
        assert_eq!(h.response.as_ref().unwrap().0, 401, "{why}");
    }
    let mut post = browser("/notebook/team-a/nb/", "");
    post.headers[0].1 = b"POST".to_vec();
    assert_eq!(
        f.on_request(&mut post),
        Outcome::Denied(DenyReason::NoIdentity)
    );
    // Public paths pass without a session.
    let mut dex = browser("/dex/auth?client_id=x", "");
    assert_eq!(f.on_request(&mut dex), Outcome::Continue);
}

#[test]
fn hostile_session_cookies_are_refused_with_their_reason() {
    let mut f = filter_with(KEYS);
    let (session, _) = sign_in(&mut f);
    let value = session.split_once('=').unwrap().1.to_owned();
    let tampered = {
        let mut b = value.clone().into_bytes();
        let i = b.len() - 10;
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).unwrap()
    };
    let truncated = value[..value.len() - 20].to_owned();
    let foreign = {
        let mut other = filter_with(OTHER_KEYS);
        let (s, _) = sign_in(&mut other);
        s.split_once('=').unwrap().1.to_owned()
    };
    for (cookie, reason, why) in [
        (tampered, DenyReason::SessionInvalid, "tampered"),
        (truncated, DenyReason::SessionInvalid, "truncated"),
        (
            foreign.clone(),
            DenyReason::SessionInvalid,
            "sealed under another gateway's key",
        ),
        ("1.garbage".into(), DenyReason::SessionInvalid, "not sealed"),
    ] {
        // An API client gets the reason; a browser is sent to sign in again, its cookie cleared.
        let mut api = browser(
            "/notebook/team-a/nb/",
            &format!("__Host-gatehouse={cookie}"),
        );
        api.headers.retain(|(k, _)| k != "accept");
        assert_eq!(f.on_request(&mut api), Outcome::Denied(reason), "{why}");
        assert!(api.logs.iter().any(|l| l.contains(reason.code())), "{why}");
        assert!(api
            .logs
            .iter()
            .all(|l| !l.contains(&cookie[..20.min(cookie.len())]) || cookie.len() < 20));
        let mut b = browser(
            "/notebook/team-a/nb/",
            &format!("__Host-gatehouse={cookie}"),
        );
        assert_eq!(f.on_request(&mut b), Outcome::Answered(302), "{why}");
        assert!(
            b.reply_headers("set-cookie")
                .iter()
                .any(|c| c.starts_with("__Host-gatehouse=;") && c.contains("Max-Age=0")),
            "{why}"
        );
    }
    // A session cookie of another sign-in purpose (the sign-in cookie itself) does not open.
    let (_, signin_cookie, _) = start(&mut f, "/");
    let sealed = signin_cookie.split_once('=').unwrap().1;
    let mut b = browser(
        "/notebook/team-a/nb/",
        &format!("__Host-gatehouse=1.{sealed}"),
    );
    b.headers.retain(|(k, _)| k != "accept");
    assert_eq!(
        f.on_request(&mut b),
        Outcome::Denied(DenyReason::SessionInvalid)
    );
}

#[test]
fn sign_out_ends_the_session_on_every_worker_and_a_replay_is_refused() {
    let mut f = filter_with(KEYS);
    let (session, _) = sign_in(&mut f);
    let mut out = browser("/oauth2/sign_out", &session);
    assert_eq!(f.on_request(&mut out), Outcome::Answered(302));
    assert_eq!(out.reply_headers("location"), ["/"]);
    assert!(out.counters.contains(&"gatehouse.signin.signed_out".into()));
    assert!(out
        .reply_headers("set-cookie")
        .iter()
        .any(|c| c.starts_with("__Host-gatehouse=;")));
    // The cookie replayed after sign-out (the same proxy's shared data) is refused.
    let mut replay = browser("/notebook/team-a/nb/", &session);
    replay.shared = out.shared.clone();
    replay.headers.retain(|(k, _)| k != "accept");
    assert_eq!(
        f.on_request(&mut replay),
        Outcome::Denied(DenyReason::SessionEnded)
    );
    // Even on a worker whose cache verified it before (another filter, same shared data).
    let mut r = browser("/notebook/team-a/nb/", &session);
    assert_eq!(
        f.on_request(&mut r),
        Outcome::Continue,
        "another proxy's shared data knows nothing"
    );
    r = browser("/notebook/team-a/nb/", &session);
    r.shared = out.shared.clone();
    r.headers.retain(|(k, _)| k != "accept");
    assert_eq!(
        f.on_request(&mut r),
        Outcome::Denied(DenyReason::SessionEnded)
    );
}

#[test]
fn hostile_callbacks_are_refused_with_their_reason() {
    let mut f = filter_with(KEYS);
    // A wrong state.
    let s = to_exchange(&mut f, "/");
    let mut cb = browser("/oauth2/callback?code=c&state=not-it", &s.signin_cookie);
    assert_eq!(
        f.on_request(&mut cb),
        Outcome::Denied(DenyReason::SignInStateMismatch)
    );
    assert!(cb.posts.is_empty(), "no exchange without the right state");
    assert!(cb
        .reply_headers("set-cookie")
        .iter()
        .any(|c| c.starts_with("__Host-gatehouse-signin=;")));
    // No sign-in cookie (a login CSRF: the attacker's callback URL in the victim's browser).
    let mut cb = browser(&format!("/oauth2/callback?code=c&state={}", s.state), "");
    assert_eq!(
        f.on_request(&mut cb),
        Outcome::Denied(DenyReason::SignInStateMismatch)
    );
    // A state given twice.
    let mut cb = browser(
        &format!("/oauth2/callback?code=c&state={0}&state={0}", s.state),
        &s.signin_cookie,
    );
    assert_eq!(
        f.on_request(&mut cb),
        Outcome::Denied(DenyReason::SignInStateMismatch)
    );
    // Too late.
    let mut cb = browser(
        &format!("/oauth2/callback?code=c&state={}", s.state),
        &s.signin_cookie,
    );
    cb.now = NOW + 601;
    assert_eq!(
        f.on_request(&mut cb),
        Outcome::Denied(DenyReason::SignInStateMismatch)
    );
    // The issuer refused.
    let mut cb = browser(
        &format!("/oauth2/callback?error=access_denied&state={}", s.state),
        &s.signin_cookie,
    );
    assert_eq!(
        f.on_request(&mut cb),
        Outcome::Denied(DenyReason::SignInFailed)
    );

    // A reused code: the token endpoint refuses it.
    let mut h = browser("/oauth2/callback", "");
    let body = br#"{"error":"invalid_grant","error_description":"grant request is invalid"}"#;
    assert_eq!(
        f.on_exchanged(&s.exchange, 400, body, &mut h),
        Outcome::Denied(DenyReason::SignInFailed)
    );
    assert!(
        h.logs.iter().any(|l| l.contains("invalid_grant")),
        "{:?}",
        h.logs
    );
    // The token endpoint does not answer.
    let mut h = browser("/oauth2/callback", "");
    assert_eq!(
        f.on_exchanged(&s.exchange, 0, b"", &mut h),
        Outcome::Denied(DenyReason::SignInFailed)
    );

    // The ID token's nonce: missing, or another sign-in's.
    for (claims, reason) in [
        (
            {
                let mut c = alice("");
                c.as_object_mut().unwrap().remove("nonce");
                c
            },
            DenyReason::NonceMismatch,
        ),
        (alice("another-sign-ins-nonce"), DenyReason::NonceMismatch),
        (
            {
                let mut c = alice(&s.exchange.nonce);
                c["aud"] = json!("another-client");
                c
            },
            DenyReason::SignInFailed,
        ),
        (
            {
                let mut c = alice(&s.exchange.nonce);
                c["iss"] = json!("https://evil.example");
                c
            },
            DenyReason::SignInFailed,
        ),
        (
            {
                let mut c = alice(&s.exchange.nonce);
                c["exp"] = json!(NOW - 100);
                c
            },
            DenyReason::SignInFailed,
        ),
    ] {
        let mut h = browser("/oauth2/callback", "");
        let body = json!({"id_token": id_token(claims.clone())}).to_string();
        assert_eq!(
            f.on_exchanged(&s.exchange, 200, body.as_bytes(), &mut h),
            Outcome::Denied(reason),
            "{claims}"
        );
        assert!(set_cookies(&h).is_empty(), "no session for {claims}");
    }
    // A forged ID token (signed by another key) with the right nonce.
    let rogue = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/keys/rogue-rsa.key.pem"
    ))
    .unwrap();
    let forged = sign_jwt(
        &SigningKey::from_pem(&rogue).unwrap(),
        "RS256",
        &json!({"kid": "dex-1"}),
        &alice(&s.exchange.nonce),
    )
    .unwrap();
    let mut h = browser("/oauth2/callback", "");
    let body = json!({"id_token": forged}).to_string();
    assert_eq!(
        f.on_exchanged(&s.exchange, 200, body.as_bytes(), &mut h),
        Outcome::Denied(DenyReason::SignInFailed)
    );
    assert!(
        h.logs.iter().any(|l| l.contains("bad_signature")),
        "{:?}",
        h.logs
    );
}

#[test]
fn the_return_url_cannot_leave_the_gateway() {
    let mut f = filter_with(KEYS);
    for (path, back) in [
        // The path is judged normalized, and that is where the browser returns: on this host.
        ("//evil.example/x", "/evil.example/x"),
        ("/\\evil.example/x", "/"),
        (
            "/notebook/team-a/nb/?next=//evil.example",
            "/notebook/team-a/nb/?next=//evil.example",
        ),
    ] {
        let mut h = browser(path, "");
        let out = f.on_request(&mut h);
        if out != Outcome::Answered(302) {
            // Paths the gateway cannot judge are refused before any sign-in.
            assert!(
                matches!(out, Outcome::Denied(DenyReason::BadPath)),
                "{path}: {out:?}"
            );
            continue;
        }
        let cookie = cookie_header(&set_cookies(&h));
        let state = query_param(&h.reply_headers("location").pop().unwrap(), "state");
        let mut cb = browser(&format!("/oauth2/callback?code=c&state={state}"), &cookie);
        let Outcome::Exchanging(e) = f.on_request(&mut cb) else {
            panic!("{path}")
        };
        assert_eq!(e.return_to, back, "{path}");
    }
}

#[test]
fn missing_secrets_refuse_the_table_naming_the_variable() {
    let mut f = Filter::default().with_env(|name| (name == "DEX_SECRET").then(|| "s".into()));
    let e = f.configure(Some(table().as_bytes())).unwrap_err();
    assert!(e.contains("`COOKIE_KEYS`") && e.contains("not set"), "{e}");
    let mut f = Filter::default().with_env(|name| match name {
        "DEX_SECRET" => Some("s".into()),
        _ => Some("k1:AAEC".into()),
    });
    let e = f.configure(Some(table().as_bytes())).unwrap_err();
    assert!(e.contains("must hold 32"), "{e}");
    assert!(f.engine().is_none());
}

#[test]
fn endpoints_the_policy_leaves_out_come_from_the_discovery_document() {
    let mut t: serde_json::Value = serde_json::from_str(&table()).unwrap();
    let si = &mut t["issuers"][0]["sign_in"];
    si.as_object_mut().unwrap().remove("token_endpoint");
    si["discovery"] = json!({"url": format!("{ISS}/.well-known/openid-configuration"),
        "cluster": "outbound|5556||dex.auth.svc.cluster.local"});
    let mut f = Filter::default().with_env(|name| match name {
        "DEX_SECRET" => Some("s3cret".into()),
        "COOKIE_KEYS" => Some(KEYS.into()),
        _ => None,
    });
    f.configure(Some(t.to_string().as_bytes())).unwrap();
    assert!(f.wants_ticks());
    // Before the document arrives, a callback cannot exchange its code.
    let s = {
        let (_, cookie, state) = start(&mut f, "/");
        (cookie, state)
    };
    let mut cb = browser(&format!("/oauth2/callback?code=c&state={}", s.1), &s.0);
    assert_eq!(
        f.on_request(&mut cb),
        Outcome::Denied(DenyReason::SignInFailed)
    );
    assert!(
        cb.logs.iter().any(|l| l.contains("not known yet")),
        "{:?}",
        cb.logs
    );
    // The root context's tick fetches it through the issuer's cluster.
    let mut root = MockHost::new(&[]);
    f.on_tick(1_000, &mut root);
    assert_eq!(
        root.fetches,
        [(
            "outbound|5556||dex.auth.svc.cluster.local".to_string(),
            "dex.auth.svc.cluster.local:5556".to_string(),
            "/dex/.well-known/openid-configuration".to_string()
        )]
    );
    // A document of another issuer is refused; the issuer's own is taken.
    let other =
        json!({"issuer": "https://evil.example", "token_endpoint": "https://evil.example/token"});
    f.on_fetch_response(1, 200, &[], other.to_string().as_bytes(), 1_100, &mut root);
    assert!(root
        .counters
        .contains(&"gatehouse.signin.discovery.refused".into()));
    f.on_tick(1_000_000, &mut root);
    let doc = json!({"issuer": ISS, "authorization_endpoint": format!("{ISS}/auth"),
        "token_endpoint": format!("{ISS}/token")});
    f.on_fetch_response(
        2,
        200,
        &[],
        doc.to_string().as_bytes(),
        1_000_100,
        &mut root,
    );
    assert!(root
        .counters
        .contains(&"gatehouse.signin.discovery.updated".into()));
    let mut cb = browser(&format!("/oauth2/callback?code=c&state={}", s.1), &s.0);
    let Outcome::Exchanging(_) = f.on_request(&mut cb) else {
        panic!("{:?}", cb.response)
    };
    assert_eq!(cb.posts[0].path, "/dex/token");
    assert_eq!(
        cb.posts[0].cluster,
        "outbound|5556||dex.auth.svc.cluster.local"
    );
    // The policy's authorization endpoint wins over the document's (browsers reach Dex through
    // the gateway, not at its in-cluster address).
    let (h, _, _) = start(&mut f, "/");
    assert!(h.reply_headers("location")[0].starts_with("/dex/auth?"));
}
