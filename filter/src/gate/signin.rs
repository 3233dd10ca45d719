//! The request path's part of browser sign-in ([`crate::signin`]): the sign-in's own paths
//! (callback, sign-out), its cookies kept from the upstream, a session cookie verified like a
//! bearer token, and a browser sent to sign in instead of answered 401.

use super::deny::{deny_with, Context};
use super::{Filter, Host, Level, Outcome};
use crate::engine::Engine;
use crate::reason::DenyReason;
use crate::signin::cookie::request_cookies;
use crate::signin::{session_id, Endpoint, Exchange, Refusal, Reply, SignIn};
use crate::token::{LiveKeys, Source, TokenFailure, VerifiedToken, Verifiers};

/// Before the route is found: removes the sign-in's cookies from the request (the upstream
/// never sees them), answers the callback and sign-out paths (`Err`: answered or paused), and
/// returns the session cookie's sealed value, if any.
pub(super) fn before_routes<H: Host>(
    si: &SignIn,
    engine: &Engine,
    headers: &[(String, Vec<u8>)],
    path: Option<&[u8]>,
    host: &mut H,
) -> Result<Option<String>, Outcome> {
    let cookies = request_cookies(headers);
    if cookies.iter().any(|(name, _)| si.owns_cookie(name)) {
        // INVARIANT: the session and sign-in cookies never reach an upstream (a notebook
        // server a user shares could replay them).
        let kept: Vec<String> = cookies
            .iter()
            .filter(|(name, _)| !si.owns_cookie(name))
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        host.remove_request_header("cookie");
        if !kept.is_empty() {
            host.set_request_header("cookie", &kept.join("; "));
        }
    }
    let path = path.and_then(|p| std::str::from_utf8(p).ok()).unwrap_or("");
    match si.endpoint(path) {
        None => Ok(si.session_cookie(&cookies)),
        Some(Endpoint::Callback(query)) => {
            let now = host.now();
            let exchange = si.callback(query, &cookies, now, |c, a, p, h, b, t| {
                host.post(c, a, p, h, b, t)
            });
            Err(match exchange {
                Ok(exchange) => {
                    host.count("gatehouse.signin.exchanges");
                    Outcome::Exchanging(Box::new(exchange))
                }
                Err(refusal) => refused(si, engine, refusal, host),
            })
        }
        Some(Endpoint::SignOut) => {
            let (reply, ended) = si.sign_out(headers, &cookies);
            if let Some((id, until)) = ended {
                host.shared_set(&signed_out_key(&id), &until.to_le_bytes());
                host.count("gatehouse.signin.signed_out");
                host.log(
                    Level::Info,
                    &serde_json::json!({"gatehouse": "signed_out", "issuer": si.issuer})
                        .to_string(),
                );
            }
            Err(answer(reply, host))
        }
    }
}

/// A sign-in step's refusal: the denial with its reason, and the sign-in cookie cleared.
fn refused<H: Host>(si: &SignIn, engine: &Engine, refusal: Refusal, host: &mut H) -> Outcome {
    let ctx = Context {
        issuer: Some(&si.issuer),
        detail: Some(&refusal.detail),
        path: Some(si.spec().redirect_path.as_str()),
        ..Context::default()
    };
    let (name, value) = si.clear_signin();
    deny_with(
        host,
        Some(engine),
        refusal.reason,
        &ctx,
        &[(name.as_str(), value.as_str())],
    )
}

fn answer<H: Host>(reply: Reply, host: &mut H) -> Outcome {
    let headers: Vec<(&str, &str)> = reply
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    host.respond(reply.status, &headers, reply.body.as_bytes());
    Outcome::Answered(reply.status)
}

/// A session cookie signed out on this gateway is refused, whatever the cache holds.
pub(super) fn not_signed_out<H: Host>(
    si: &SignIn,
    sealed: &str,
    host: &H,
) -> Result<(), TokenFailure> {
    let issuer = si.issuer.as_str();
    match session_id(sealed) {
        Some(id) if host.shared_get(&signed_out_key(id)).is_none() => Ok(()),
        Some(_) => Err(
            TokenFailure::new(DenyReason::SessionEnded, "the session was signed out")
                .issuer(issuer),
        ),
        None => Err(TokenFailure::new(
            DenyReason::SessionInvalid,
            "the cookie is not a sealed Gatehouse value",
        )
        .issuer(issuer)),
    }
}

/// The shared-data key that marks a session signed out, on every worker of the proxy. Each
/// sign-out holds one until Envoy restarts (a few dozen bytes).
fn signed_out_key(id: &str) -> String {
    format!("gatehouse.signed_out.{id}")
}

/// Opens a session cookie and verifies its ID token as a bearer token of the sign-in's issuer.
pub(super) fn verify_session(
    si: &SignIn,
    verifiers: &Verifiers,
    sealed: &str,
    now: u64,
    leeway: u64,
    live: Option<&dyn LiveKeys>,
) -> Result<VerifiedToken, TokenFailure> {
    let token = si
        .open_session(sealed)
        .map_err(|r| TokenFailure::new(r.reason, r.detail).issuer(&si.issuer))?;
    let verified = verifiers.verify(Source::Session, &token, now, leeway, live, &mut ())?;
    if verified.identity.issuer != si.issuer {
        return Err(TokenFailure::new(
            DenyReason::SessionInvalid,
            "the session's token is not from the sign-in's issuer",
        )
        .issuer(&si.issuer));
    }
    Ok(verified)
}

/// A browser refused for its identity (401) is sent to sign in instead; `None`: not a
/// browser navigation on a browser path (API clients keep their 401).
pub(super) fn send_to_sign_in<H: Host>(
    si: &SignIn,
    headers: &[(String, Vec<u8>)],
    path: &str,
    reason: DenyReason,
    had_session: bool,
    ctx: &Context<'_>,
    host: &mut H,
) -> Option<Outcome> {
    if reason.status() != 401 || !si.is_browser(headers, path) {
        return None;
    }
    let reply = si.begin(headers, path, host.now(), had_session).ok()?;
    host.count("gatehouse.signin.started");
    host.log(Level::Info, &ctx.log_line("sign_in", reason, None));
    Some(answer(reply, host))
}

impl Filter {
    /// The token endpoint answered a sign-in's code exchange (`status` 0: it did not answer):
    /// answers the paused callback with the session cookie and a redirect back, or with the
    /// refusal.
    pub fn on_exchanged<H: Host>(
        &mut self,
        exchange: &Exchange,
        status: u32,
        body: &[u8],
        host: &mut H,
    ) -> Outcome {
        let (Some(engine), Some(si)) = (self.engine.as_ref(), self.sign_in.as_ref()) else {
            // The table changed while the browser was at the issuer: sign in again.
            return super::deny::deny(
                host,
                self.engine.as_ref(),
                DenyReason::SignInFailed,
                &Context {
                    detail: Some("the table in force has no sign-in"),
                    ..Context::default()
                },
            );
        };
        let now = host.now();
        let leeway = engine.gateway().leeway_seconds;
        let live = self.live.as_ref().map(|l| l as &dyn LiveKeys);
        let verifiers = engine.verifiers();
        let finished = si.finish(exchange, status, body, now, |token| {
            match verifiers.verify(Source::Session, token, now, leeway, live, &mut ()) {
                Ok(v) if v.identity.issuer == si.issuer => Ok(()),
                Ok(_) => Err(Refusal {
                    reason: DenyReason::SignInFailed,
                    detail: "the ID token verifies as another issuer's".into(),
                }),
                // Straight from the token endpoint, signed with a key this worker has not
                // fetched yet: the next request verifies it, holding for the key.
                Err(f) if f.reason == DenyReason::UnknownKid && f.fetchable => Ok(()),
                Err(f) => Err(Refusal {
                    reason: DenyReason::SignInFailed,
                    detail: format!(
                        "the ID token does not verify: {} ({})",
                        f.reason.code(),
                        f.detail
                    ),
                }),
            }
        });
        match finished {
            Ok(reply) => {
                host.count("gatehouse.signin.completed");
                host.log(
                    Level::Info,
                    &serde_json::json!({"gatehouse": "signed_in", "issuer": si.issuer}).to_string(),
                );
                answer(reply, host)
            }
            Err(refusal) => refused(si, engine, refusal, host),
        }
    }
}
