//! One sign-in, step by step: the values a sign-in starts with (`state`, `nonce`, the PKCE
//! verifier, where the browser returns), the authorization URL, the code exchange's request,
//! and reading the token endpoint's answer and the ID token's claims.

use base64::engine::general_purpose::{STANDARD as B64_STD, URL_SAFE_NO_PAD as B64};
use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use crate::token::encoding::shown;

/// How long a browser may take at the issuer (the sign-in cookie's life), seconds.
pub const SIGN_IN_SECONDS: u64 = 600;
/// Largest token endpoint answer read, bytes.
pub const MAX_TOKEN_ANSWER: usize = 64 * 1024;

/// A sign-in in progress: sealed into the sign-in cookie while the browser is at the issuer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Started {
    /// `state`: the callback must bring it back (CSRF).
    #[serde(rename = "s")]
    pub state: String,
    /// `nonce`: the ID token must carry it (replay).
    #[serde(rename = "n")]
    pub nonce: String,
    /// The PKCE code verifier: the code exchange must send it.
    #[serde(rename = "v")]
    pub verifier: String,
    /// Where the browser goes once signed in (a path on this gateway).
    #[serde(rename = "r")]
    pub return_to: String,
    /// Unix time after which the callback is refused.
    #[serde(rename = "e")]
    pub expires_at: u64,
}

/// `n` random bytes, base64url.
pub fn random_text(n: usize) -> Result<String, String> {
    let mut bytes = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "no randomness for a sign-in".to_string())?;
    Ok(B64.encode(bytes))
}

impl Started {
    /// Fresh values for a sign-in that returns to `return_to` (made safe first).
    pub fn new(return_to: &str, now: u64) -> Result<Started, String> {
        Ok(Started {
            state: random_text(24)?,
            nonce: random_text(24)?,
            verifier: random_text(32)?,
            return_to: safe_return(return_to),
            expires_at: now.saturating_add(SIGN_IN_SECONDS),
        })
    }

    /// The PKCE S256 challenge of the verifier.
    pub fn challenge(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, self.verifier.as_bytes());
        B64.encode(digest.as_ref())
    }
}

/// Where a browser may be sent back on this gateway: a path (`/…`, not `//…` or `/\…`, which
/// browsers read as another host), without control characters or spaces; anything else
/// becomes `/`. Open redirects through the return URL end here.
pub fn safe_return(path: &str) -> String {
    let ok = path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && path.len() <= 2048
        && !path
            .bytes()
            .any(|b| b.is_ascii_control() || b == b' ' || b == b'\\' || b >= 0x80);
    if ok {
        path.to_owned()
    } else {
        "/".to_owned()
    }
}

/// The query string of `pairs`, form-encoded.
pub fn query(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// The URL a browser is sent to: `endpoint` with the authorization request's parameters.
pub fn authorization_url(
    endpoint: &str,
    client_id: &str,
    redirect_uri: &str,
    scopes: &[String],
    started: &Started,
) -> String {
    let scope = scopes.join(" ");
    let challenge = started.challenge();
    let q = query(&[
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("scope", &scope),
        ("state", &started.state),
        ("nonce", &started.nonce),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let sep = if endpoint.contains('?') { '&' } else { '?' };
    format!("{endpoint}{sep}{q}")
}

/// The code exchange: `Authorization: Basic` (client_secret_basic, each part form-encoded as
/// RFC 6749 §2.3.1 says) and the form body.
pub fn token_request(
    client_id: &str,
    client_secret: &str,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> (String, String) {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let basic = format!(
        "Basic {}",
        B64_STD.encode(format!("{}:{}", enc(client_id), enc(client_secret)))
    );
    let body = query(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier),
    ]);
    (basic, body)
}

/// What the callback's query holds.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Callback {
    /// `code`.
    pub code: Option<String>,
    /// `state`.
    pub state: Option<String>,
    /// `error` (the issuer refused: `access_denied`, …).
    pub error: Option<String>,
    /// A parameter given twice: refused.
    pub repeated: bool,
}

/// Reads the callback's query (the part of the path after `?`).
pub fn callback_query(q: &str) -> Callback {
    let mut c = Callback::default();
    for (k, v) in form_urlencoded::parse(q.as_bytes()) {
        let slot = match &*k {
            "code" => &mut c.code,
            "state" => &mut c.state,
            "error" => &mut c.error,
            _ => continue,
        };
        if slot.is_some() {
            c.repeated = true;
        }
        *slot = Some(v.into_owned());
    }
    c
}

/// The ID token of a token endpoint's answer, or why there is none (never the answer's text:
/// it may hold tokens).
pub fn id_token_of(status: u32, body: &[u8]) -> Result<String, String> {
    #[derive(Deserialize)]
    struct Answer {
        id_token: Option<String>,
        error: Option<String>,
    }
    if body.len() > MAX_TOKEN_ANSWER {
        return Err(format!(
            "the token endpoint's answer is over {MAX_TOKEN_ANSWER} bytes"
        ));
    }
    let answer: Option<Answer> = serde_json::from_slice(body).ok();
    match (status, answer) {
        (
            200,
            Some(Answer {
                id_token: Some(t), ..
            }),
        ) => Ok(t),
        (200, Some(_)) => Err("the token endpoint answered without an `id_token`".into()),
        (0, _) => Err("the token endpoint did not answer (timeout or connection failure)".into()),
        (s, Some(Answer { error: Some(e), .. })) => Err(format!(
            "the token endpoint refused the code: {s} `{}`",
            shown(&e)
        )),
        (s, _) => Err(format!("the token endpoint answered {s}")),
    }
}

/// The ID token claims the callback checks itself, read from its payload.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct IdClaims {
    /// `iss`.
    pub iss: Option<String>,
    /// `aud`: a string or a list.
    #[serde(default)]
    pub aud: Audience,
    /// `exp`.
    pub exp: Option<u64>,
    /// `nonce`.
    pub nonce: Option<String>,
}

/// `aud` as either form.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// None given.
    #[default]
    None,
    /// One.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl Audience {
    /// Whether it names `id`.
    pub fn holds(&self, id: &str) -> bool {
        match self {
            Audience::None => false,
            Audience::One(a) => a == id,
            Audience::Many(list) => list.iter().any(|a| a == id),
        }
    }
}

/// Reads a JWT's payload claims (no signature check: the caller verifies the token or knows
/// where it came from).
pub fn id_claims(token: &str) -> Result<IdClaims, String> {
    let payload = token.split('.').nth(1).ok_or("the ID token is not a JWT")?;
    let bytes = B64
        .decode(payload.trim_end_matches('='))
        .map_err(|_| "the ID token's payload is not base64url")?;
    serde_json::from_slice(&bytes).map_err(|_| "the ID token's claims are not a JSON object".into())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn return_urls_stay_on_this_gateway() {
        for ok in ["/", "/notebook/alice/?a=1&b=%2F", "/_/jupyter/"] {
            assert_eq!(safe_return(ok), ok);
        }
        for bad in [
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example/",
            "evil",
            "/a\r\nset-cookie: x",
            "/a b",
            "",
            "/\u{e9}",
        ] {
            assert_eq!(safe_return(bad), "/", "{bad:?}");
        }
    }

    #[test]
    fn pkce_challenge_is_rfc7636s() {
        // RFC 7636, Appendix B.
        let s = Started {
            verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into(),
            ..Started::new("/", 0).unwrap()
        };
        assert_eq!(s.challenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn started_values_are_fresh_and_long() {
        let a = Started::new("/x", 100).unwrap();
        let b = Started::new("/x", 100).unwrap();
        assert_ne!(a.state, b.state);
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.verifier, b.verifier);
        assert!(a.verifier.len() >= 43, "RFC 7636: 43 to 128 characters");
        assert_eq!(a.expires_at, 100 + SIGN_IN_SECONDS);
    }

    #[test]
    fn the_authorization_url_carries_the_request() {
        let s = Started::new("/", 0).unwrap();
        let url = authorization_url(
            "/dex/auth",
            "kubeflow-oidc-authservice",
            "https://kf.example.com/oauth2/callback",
            &["openid".into(), "email".into()],
            &s,
        );
        assert!(url.starts_with("/dex/auth?response_type=code&client_id=kubeflow-oidc-authservice&redirect_uri=https%3A%2F%2Fkf.example.com%2Foauth2%2Fcallback&scope=openid+email&state="));
        assert!(url.contains(&format!(
            "&code_challenge={}&code_challenge_method=S256",
            s.challenge()
        )));
        assert!(!url.contains(&s.verifier));
        assert!(authorization_url("https://i/auth?x=1", "c", "r", &[], &s)
            .starts_with("https://i/auth?x=1&"));
    }

    #[test]
    fn the_code_exchange_authenticates_the_client() {
        let (basic, body) = token_request("my client", "s:cr%t", "the-code", "https://g/cb", "ver");
        assert_eq!(
            B64_STD
                .decode(basic.strip_prefix("Basic ").unwrap())
                .unwrap(),
            b"my+client:s%3Acr%25t"
        );
        assert_eq!(body, "grant_type=authorization_code&code=the-code&redirect_uri=https%3A%2F%2Fg%2Fcb&code_verifier=ver");
    }

    #[test]
    fn callbacks_and_answers_are_read_without_trusting_them() {
        let c = callback_query("code=a%2Bb&state=s1");
        assert_eq!(
            (c.code.as_deref(), c.state.as_deref(), c.repeated),
            (Some("a+b"), Some("s1"), false)
        );
        assert!(callback_query("state=a&state=b").repeated);
        assert_eq!(
            callback_query("error=access_denied").error.as_deref(),
            Some("access_denied")
        );
        assert_eq!(
            id_token_of(200, br#"{"id_token":"t","access_token":"a"}"#).unwrap(),
            "t"
        );
        let e = id_token_of(
            400,
            br#"{"error":"invalid_grant","error_description":"grant request is invalid"}"#,
        )
        .unwrap_err();
        assert!(e.contains("invalid_grant"), "{e}");
        assert!(id_token_of(200, b"{}").unwrap_err().contains("without"));
        assert!(id_token_of(0, b"").unwrap_err().contains("did not answer"));
        assert!(id_token_of(502, b"<html>").unwrap_err().contains("502"));
        assert!(id_token_of(200, &vec![b' '; MAX_TOKEN_ANSWER + 1])
            .unwrap_err()
            .contains("over"));
    }

    #[test]
    fn id_claims_read_both_audience_forms() {
        let enc = |v: &str| format!("h.{}.s", B64.encode(v));
        let c = id_claims(&enc(r#"{"iss":"i","aud":"a","exp":5,"nonce":"n"}"#)).unwrap();
        assert!(c.aud.holds("a") && !c.aud.holds("b"));
        assert_eq!((c.exp, c.nonce.as_deref()), (Some(5), Some("n")));
        assert!(id_claims(&enc(r#"{"aud":["x","a"]}"#))
            .unwrap()
            .aud
            .holds("a"));
        assert!(id_claims("nope").is_err());
        assert!(id_claims(&enc("[]")).is_err());
    }
}
