//! Browser sign-in at the gateway: OpenID Connect's authorization code flow with PKCE, for the
//! one JWT issuer of a table that has `sign_in`. A browser without a session is sent to the
//! issuer ([`SignIn::begin`]); the issuer sends it back to the callback path, whose code the
//! filter exchanges at the token endpoint through an Envoy cluster — the only network call,
//! once per sign-in ([`SignIn::callback`], [`SignIn::finish`]); the ID token is kept in a
//! sealed session cookie, which every later request presents. The cookie is never trust by
//! itself: its ID token is verified like a bearer token on every request (through the
//! verified-token cache), and a cookie signed out on this gateway is refused.
//!
//! The flow's parts: [`cookie`] (sealing, splitting, reading cookies) and [`flow`] (the
//! values, URLs and bodies of one sign-in).

pub mod cookie;
pub mod discovery;
pub mod flow;

use serde::{Deserialize, Serialize};

use crate::headers;
use crate::live::FetchUrl;
use crate::reason::DenyReason;
use crate::table::{IssuerSpec, SignInSpec, Table};
use crate::token::encoding::shown;
use cookie::{CookieAttributes, CookieKeys};
use discovery::Discovery;
use flow::{Callback, Started};

/// The most one sign-in exchange may hold its callback request, milliseconds: the token
/// endpoint answers within it or the sign-in fails.
pub const EXCHANGE_TIMEOUT_MS: u64 = 5_000;

/// The sign-in of one issuer, ready: its settings, secrets and cookie keys.
pub struct SignIn {
    /// The issuer's name in the table.
    pub issuer: String,
    /// Its `iss`.
    iss: String,
    spec: SignInSpec,
    keys: CookieKeys,
    client_secret: String,
    /// The token endpoint the policy names, and its cluster.
    token: Option<(FetchUrl, String)>,
    attrs: CookieAttributes,
    /// The endpoints the policy leaves to the issuer's discovery document.
    discovery: Option<Discovery>,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("issuer", &self.issuer)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

/// A local reply of the sign-in: status, headers, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u32,
    /// Headers (`location`, `set-cookie` — several).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: String,
}

/// Why a sign-in step refused the request: the reason and a line for the log (never a token,
/// a code or a cookie).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The stable reason.
    pub reason: DenyReason,
    /// What went wrong.
    pub detail: String,
}

fn refuse(reason: DenyReason, detail: impl Into<String>) -> Refusal {
    Refusal {
        reason,
        detail: detail.into(),
    }
}

/// A code exchange under way: the callback request waits for the token endpoint's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The host's id of the exchange's fetch (its answer comes back with it).
    pub fetch: u32,
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// Where the browser returns.
    pub return_to: String,
}

/// The sign-in's own paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint<'a> {
    /// The callback (redirect URI), with its query.
    Callback(&'a str),
    /// Sign-out, with its query.
    SignOut,
}

/// What a session cookie's sealed value is known by when signed out: its AEAD nonce, which is
/// random and unique per cookie (16 base64url characters).
pub fn session_id(sealed: &str) -> Option<&str> {
    let data = sealed.splitn(3, '.').nth(2)?;
    data.get(..16)
}

/// What the environment must give a sign-in, read once when a table loads.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

impl SignIn {
    /// The sign-in of `table`, if an issuer has one, with its secrets from `env`; an error
    /// names what is missing or wrong (never a secret).
    pub fn from_table(table: &Table, env: Env<'_>) -> Result<Option<SignIn>, String> {
        let mut found = table.issuers.iter().filter_map(|i| match i {
            IssuerSpec::Jwt(j) => j.sign_in.as_ref().map(|s| (j, s)),
            IssuerSpec::Alb(_) => None,
        });
        let Some((jwt, spec)) = found.next() else {
            return Ok(None);
        };
        if found.next().is_some() {
            return Err("sign-in: more than one issuer has `sign_in`".into());
        }
        let var = |name: &str, what: &str| {
            env(name).filter(|v| !v.is_empty()).ok_or_else(|| {
                format!(
                    "sign-in of issuer `{}`: the environment variable `{name}` ({what}) is not set in the gateway's Wasm VM",
                    jwt.name
                )
            })
        };
        let client_secret = var(&spec.client_secret_env, "the client secret")?;
        let keys =
            CookieKeys::parse(&var(&spec.cookie_keys_env, "the cookie keys")?).map_err(|e| {
                format!(
                    "sign-in of issuer `{}`: `{}`: {e}",
                    jwt.name, spec.cookie_keys_env
                )
            })?;
        let token = match &spec.token_endpoint {
            Some(t) => Some((
                FetchUrl::parse(&t.url).map_err(|e| {
                    format!(
                        "sign-in of issuer `{}`: token endpoint `{}`: {e}",
                        jwt.name, t.url
                    )
                })?,
                t.cluster.clone(),
            )),
            None => None,
        };
        let discovery = spec
            .discovery
            .as_ref()
            .map(|d| Discovery::new(&jwt.name, &jwt.issuer, d))
            .transpose()?;
        if discovery.is_none() && (token.is_none() || spec.authorization_endpoint.is_none()) {
            return Err(format!(
                "sign-in of issuer `{}`: without a discovery document it needs both the authorization and the token endpoint",
                jwt.name
            ));
        }
        Ok(Some(SignIn {
            issuer: jwt.name.clone(),
            iss: jwt.issuer.clone(),
            attrs: CookieAttributes {
                secure: spec.cookie_secure,
                domain: spec.cookie_domain.clone(),
            },
            spec: (**spec).clone(),
            keys,
            client_secret,
            token,
            discovery,
        }))
    }

    /// The settings.
    pub fn spec(&self) -> &SignInSpec {
        &self.spec
    }

    /// The issuer's discovery, when the policy leaves endpoints to it.
    pub fn discovery(&self) -> Option<&Discovery> {
        self.discovery.as_ref()
    }

    /// The issuer's discovery, to drive (ticks, answers).
    pub fn discovery_mut(&mut self) -> Option<&mut Discovery> {
        self.discovery.as_mut()
    }

    /// Keeps what the sign-in `old` (of the table before) discovered of the same document.
    pub fn adopt(&mut self, old: &SignIn) {
        if let (Some(new), Some(old)) = (&mut self.discovery, &old.discovery) {
            new.adopt(old);
        }
    }

    fn found(&self) -> Option<&discovery::Discovered> {
        self.discovery.as_ref().and_then(Discovery::found)
    }

    /// Where browsers sign in: the policy's, else the discovery document's.
    fn authorization_endpoint(&self) -> Option<&str> {
        self.spec
            .authorization_endpoint
            .as_deref()
            .or_else(|| self.found()?.authorization.as_deref())
    }

    /// The token endpoint and its cluster: the policy's, else the discovery document's.
    fn token_endpoint(&self) -> Option<(&FetchUrl, &str)> {
        self.token
            .as_ref()
            .or_else(|| self.found()?.token.as_ref())
            .map(|(u, c)| (u, c.as_str()))
    }

    /// The end-session endpoint: the policy's, else the discovery document's.
    fn end_session_endpoint(&self) -> Option<&str> {
        self.spec
            .end_session_endpoint
            .as_deref()
            .or_else(|| self.found()?.end_session.as_deref())
    }

    fn signin_cookie(&self) -> String {
        format!("{}-signin", self.spec.cookie_name)
    }

    fn purpose(&self, what: &str) -> String {
        format!("{what}:{}", self.issuer)
    }

    /// Whether `name` is one of this sign-in's cookies (removed before the upstream).
    pub fn owns_cookie(&self, name: &str) -> bool {
        let base = self.spec.cookie_name.as_str();
        name == base
            || name == self.signin_cookie()
            || name
                .strip_prefix(base)
                .and_then(|r| r.strip_prefix('-'))
                .and_then(|n| n.parse::<usize>().ok())
                .is_some_and(|n| (1..cookie::MAX_CHUNKS).contains(&n))
    }

    /// Whether the raw `:path` is one of the sign-in's own paths.
    pub fn endpoint<'p>(&self, raw_path: &'p str) -> Option<Endpoint<'p>> {
        let (path, query) = raw_path.split_once('?').unwrap_or((raw_path, ""));
        if path == self.spec.redirect_path {
            Some(Endpoint::Callback(query))
        } else if path == self.spec.sign_out_path {
            Some(Endpoint::SignOut)
        } else {
            None
        }
    }

    /// The session cookie's sealed value (joined from its chunks), if the request has one.
    pub fn session_cookie(&self, cookies: &[(&str, &str)]) -> Option<String> {
        cookie::join(cookies, &self.spec.cookie_name)
            .or_else(|| cookie::cookie(cookies, &self.spec.cookie_name).map(str::to_owned))
    }

    /// The ID token in a session cookie's sealed value.
    pub fn open_session(&self, sealed: &str) -> Result<String, Refusal> {
        let plain = self
            .keys
            .open(&self.purpose("session"), sealed)
            .map_err(|e| refuse(DenyReason::SessionInvalid, e.describe()))?;
        String::from_utf8(plain)
            .map_err(|_| refuse(DenyReason::SessionInvalid, "the session holds no token"))
    }

    /// Whether a request may be sent to sign in instead of answered 401: a browser navigating
    /// (GET or HEAD, asking for HTML, not an XHR or fetch), on a browser path, with no
    /// `Authorization` header (an API client with a bad token gets its 401).
    pub fn is_browser(&self, headers: &[(String, Vec<u8>)], path: &str) -> bool {
        let value = |name: &str| headers::value(headers, name);
        let method_ok = matches!(value(":method"), Some(b"GET" | b"HEAD"));
        let html = value("accept")
            .is_some_and(|a| a.windows(9).any(|w| w.eq_ignore_ascii_case(b"text/html")));
        let navigating = value("sec-fetch-mode").is_none_or(|m| m == b"navigate");
        let xhr = value("x-requested-with").is_some();
        let api = value("authorization").is_some();
        let on_path = self
            .spec
            .browser_paths
            .iter()
            .any(|p| path.starts_with(p.as_str()));
        method_ok && html && navigating && !xhr && !api && on_path
    }

    /// The origin a browser reached this gateway by: scheme (`x-forwarded-proto`, else
    /// `:scheme`) and authority. `None` when the authority is not a plain host[:port].
    fn origin(&self, headers: &[(String, Vec<u8>)]) -> Option<String> {
        let value =
            |name: &str| headers::value(headers, name).and_then(|v| std::str::from_utf8(v).ok());
        let authority = value(":authority").or_else(|| value("host"))?;
        crate::host::normalize_authority(authority)?;
        let https = value("x-forwarded-proto")
            .or_else(|| value(":scheme"))
            .is_some_and(|s| s.eq_ignore_ascii_case("https"));
        let scheme = if https { "https" } else { "http" };
        Some(format!("{scheme}://{authority}"))
    }

    /// The redirect URI of a request: its origin and the callback path.
    fn redirect_uri(&self, headers: &[(String, Vec<u8>)]) -> Option<String> {
        Some(format!(
            "{}{}",
            self.origin(headers)?,
            self.spec.redirect_path
        ))
    }

    /// Sends a browser to sign in, to come back to `return_to` (made safe): a 302 to the
    /// authorization endpoint, with the sign-in cookie; `clear_session` also clears a session
    /// cookie that failed.
    pub fn begin(
        &self,
        headers: &[(String, Vec<u8>)],
        return_to: &str,
        now: u64,
        clear_session: bool,
    ) -> Result<Reply, String> {
        let redirect_uri = self
            .redirect_uri(headers)
            .ok_or("the request's authority is not a host name")?;
        let endpoint = self
            .authorization_endpoint()
            .ok_or("the authorization endpoint is not known yet (the discovery document has not arrived)")?
            .to_owned();
        let started = Started::new(return_to, now)?;
        let sealed = Pending {
            started: started.clone(),
            redirect_uri: redirect_uri.clone(),
        };
        let text = serde_json::to_vec(&sealed).map_err(|e| e.to_string())?;
        let cookie = self.keys.seal(&self.purpose("signin"), &text)?;
        let location = flow::authorization_url(
            &endpoint,
            &self.spec.client_id,
            &redirect_uri,
            &self.spec.scopes,
            &started,
        );
        let mut headers = vec![
            ("location".to_owned(), location),
            (
                "set-cookie".to_owned(),
                self.attrs
                    .set_cookie(&self.signin_cookie(), &cookie, flow::SIGN_IN_SECONDS),
            ),
        ];
        if clear_session {
            headers.extend(self.clear_session());
        }
        Ok(redirect(headers))
    }

    fn clear_session(&self) -> Vec<(String, String)> {
        (0..cookie::MAX_CHUNKS)
            .map(|i| {
                let name = cookie::chunk_name(&self.spec.cookie_name, i);
                ("set-cookie".to_owned(), self.attrs.set_cookie(&name, "", 0))
            })
            .collect()
    }

    /// The header that clears the sign-in cookie (every callback answer sends it: a sign-in
    /// cookie is used once).
    pub fn clear_signin(&self) -> (String, String) {
        (
            "set-cookie".to_owned(),
            self.attrs.set_cookie(&self.signin_cookie(), "", 0),
        )
    }

    /// The callback: checks `state` against the sign-in cookie and starts the code exchange
    /// (POST to the token endpoint through its cluster). `post` dispatches it and returns the
    /// fetch's id.
    pub fn callback(
        &self,
        query: &str,
        cookies: &[(&str, &str)],
        now: u64,
        post: impl FnOnce(&str, &str, &str, &[(&str, &str)], &[u8], u64) -> Result<u32, String>,
    ) -> Result<Exchange, Refusal> {
        let Callback {
            code,
            state,
            error,
            repeated,
        } = flow::callback_query(query);
        if repeated {
            return Err(refuse(
                DenyReason::SignInStateMismatch,
                "the callback repeats a parameter",
            ));
        }
        let mismatch = |d: &str| refuse(DenyReason::SignInStateMismatch, d);
        let sealed = cookie::cookie(cookies, &self.signin_cookie()).ok_or_else(|| {
            mismatch("no sign-in cookie: the sign-in did not start here, or it was used already")
        })?;
        let pending: Pending = self
            .keys
            .open(&self.purpose("signin"), sealed)
            .ok()
            .and_then(|plain| serde_json::from_slice(&plain).ok())
            .ok_or_else(|| mismatch("the sign-in cookie does not open"))?;
        if now > pending.started.expires_at {
            return Err(mismatch("the sign-in took longer than its cookie lives"));
        }
        if state.as_deref() != Some(pending.started.state.as_str()) {
            return Err(mismatch(
                "`state` is not the one this browser's sign-in sent",
            ));
        }
        if let Some(e) = error {
            return Err(refuse(
                DenyReason::SignInFailed,
                format!("the issuer answered `{}`", shown(&e)),
            ));
        }
        let (token_url, cluster) = self.token_endpoint().ok_or_else(|| {
            refuse(
                DenyReason::SignInFailed,
                "the token endpoint is not known yet (the discovery document has not arrived)",
            )
        })?;
        let code = code
            .filter(|c| !c.is_empty())
            .ok_or_else(|| refuse(DenyReason::SignInFailed, "the callback has no `code`"))?;
        let (basic, body) = flow::token_request(
            &self.spec.client_id,
            &self.client_secret,
            &code,
            &pending.redirect_uri,
            &pending.started.verifier,
        );
        let headers = [
            ("authorization", basic.as_str()),
            ("content-type", "application/x-www-form-urlencoded"),
            ("accept", "application/json"),
        ];
        let fetch = post(
            cluster,
            &token_url.authority,
            &token_url.path,
            &headers,
            body.as_bytes(),
            EXCHANGE_TIMEOUT_MS,
        )
        .map_err(|e| {
            refuse(
                DenyReason::SignInFailed,
                format!("the code exchange could not start: {e}"),
            )
        })?;
        Ok(Exchange {
            fetch,
            nonce: pending.started.nonce,
            return_to: pending.started.return_to,
        })
    }

    /// The token endpoint answered: checks the ID token (`verified` is the gateway's full
    /// verification of it; an unknown key is tolerated, the token came straight from the
    /// token endpoint, and the next request verifies it with the key fetched by then), its
    /// issuer, audience, expiry and nonce, and answers a 302 back to where the browser was,
    /// with the session cookie. Returns the reply and the session's expiry.
    pub fn finish(
        &self,
        exchange: &Exchange,
        status: u32,
        body: &[u8],
        now: u64,
        verify: impl FnOnce(&str) -> Result<(), Refusal>,
    ) -> Result<Reply, Refusal> {
        let failed = |d: String| refuse(DenyReason::SignInFailed, d);
        let id_token = flow::id_token_of(status, body).map_err(failed)?;
        let claims = flow::id_claims(&id_token).map_err(failed)?;
        if claims.iss.as_deref() != Some(self.iss.as_str()) {
            return Err(failed(format!(
                "the ID token is not from issuer `{}`",
                self.issuer
            )));
        }
        if !claims.aud.holds(&self.spec.client_id) {
            return Err(failed("the ID token is not for this client".into()));
        }
        let exp = claims
            .exp
            .filter(|e| *e > now)
            .ok_or_else(|| failed("the ID token has expired".into()))?;
        if claims.nonce.as_deref() != Some(exchange.nonce.as_str()) {
            return Err(refuse(
                DenyReason::NonceMismatch,
                match claims.nonce {
                    None => "the ID token carries no `nonce`",
                    Some(_) => "the ID token's `nonce` is not this sign-in's",
                },
            ));
        }
        verify(&id_token)?;
        let cookies = self.session_cookies(&id_token).map_err(failed)?;
        let max_age = exp - now;
        let mut headers = vec![("location".to_owned(), exchange.return_to.clone())];
        let n = cookies.len();
        for (name, value) in &cookies {
            headers.push((
                "set-cookie".into(),
                self.attrs.set_cookie(name, value, max_age),
            ));
        }
        for i in n..cookie::MAX_CHUNKS {
            let name = cookie::chunk_name(&self.spec.cookie_name, i);
            headers.push(("set-cookie".into(), self.attrs.set_cookie(&name, "", 0)));
        }
        headers.push(self.clear_signin());
        Ok(redirect(headers))
    }

    /// The session cookies (name, value) that keep `id_token`: sealed, split when large.
    pub fn session_cookies(&self, id_token: &str) -> Result<Vec<(String, String)>, String> {
        let sealed = self
            .keys
            .seal(&self.purpose("session"), id_token.as_bytes())?;
        let parts = cookie::split(&sealed).ok_or("the ID token is too large to keep in cookies")?;
        Ok(parts
            .into_iter()
            .enumerate()
            .map(|(i, part)| (cookie::chunk_name(&self.spec.cookie_name, i), part))
            .collect())
    }

    /// Sign-out: clears the cookies and sends the browser to the issuer's end-session
    /// endpoint (with the ID token as hint, and `post_sign_out` made absolute on this
    /// gateway's host) or to `post_sign_out`. Returns the reply and, when the request's
    /// session opened, its id and expiry, to refuse it from now on.
    pub fn sign_out(
        &self,
        headers: &[(String, Vec<u8>)],
        cookies: &[(&str, &str)],
    ) -> (Reply, Option<(String, u64)>) {
        let sealed = self.session_cookie(cookies);
        let opened = sealed.as_deref().and_then(|s| {
            let token = self.open_session(s).ok()?;
            let exp = flow::id_claims(&token).ok()?.exp?;
            Some((session_id(s)?.to_owned(), exp, token))
        });
        let after = &self.spec.post_sign_out;
        let location = match (self.end_session_endpoint(), &opened) {
            (Some(end), Some((_, _, token))) => {
                let absolute = match (after.starts_with('/'), self.origin(headers)) {
                    (true, Some(origin)) => format!("{origin}{after}"),
                    _ => after.clone(),
                };
                let q = flow::query(&[
                    ("id_token_hint", token.as_str()),
                    ("post_logout_redirect_uri", absolute.as_str()),
                    ("client_id", self.spec.client_id.as_str()),
                ]);
                let sep = if end.contains('?') { '&' } else { '?' };
                format!("{end}{sep}{q}")
            }
            _ => after.clone(),
        };
        let mut headers = vec![("location".to_owned(), location)];
        headers.extend(self.clear_session());
        headers.push(self.clear_signin());
        (redirect(headers), opened.map(|(id, exp, _)| (id, exp)))
    }
}

/// What the sign-in cookie holds: the sign-in's values and the redirect URI it sent.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    #[serde(flatten)]
    started: Started,
    #[serde(rename = "u")]
    redirect_uri: String,
}

fn redirect(headers: Vec<(String, String)>) -> Reply {
    let mut headers = headers;
    headers.push(("cache-control".into(), "no-store".into()));
    Reply {
        status: 302,
        headers,
        body: String::new(),
    }
}
