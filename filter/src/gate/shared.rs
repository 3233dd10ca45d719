//! The verified-token cache shared by every worker of one Envoy, through proxy-wasm shared
//! data: a token verified on one worker is not verified again on another.
//!
//! - **One secret per proxy.** The first worker to serve a request draws the cache secret and
//!   publishes it (`gatehouse.cache.secret`); every worker keys its tokens under the one it
//!   reads back, so a token has the same 128-bit SipHash-2-4 key on every worker. No token
//!   text is ever stored, and a collision needs the secret.
//! - **Bounded.** Verified tokens live in [`SLOTS`] slots (`gatehouse.cache.<n>`), chosen by
//!   their key: a newer token takes an older one's slot. Shared data has no eviction, so this
//!   is what bounds it (a few hundred bytes per slot).
//! - **Checked on every read.** A slot is used only for the same key, under the same table
//!   (`tag`: issuers and settings), and before its `exp`; the caller re-checks the key it was
//!   verified with, as for its own cache. Anything else, including a value that does not
//!   parse, is a miss: the token is verified again.

use serde::{Deserialize, Serialize};

use super::Host;
use crate::cache::{Secret, TokenKey};
use crate::token::VerifiedToken;

/// How many tokens the proxy shares at most.
pub(crate) const SLOTS: u16 = 4096;
/// The shared data key of the proxy's cache secret.
pub(crate) const SECRET_KEY: &str = "gatehouse.cache.secret";
/// Largest slot value read, bytes.
const MAX_SLOT_BYTES: usize = 16 * 1024;

#[derive(Serialize, Deserialize)]
struct Slot {
    /// The token's key.
    k: TokenKey,
    /// The table it was verified under.
    t: u64,
    v: VerifiedToken,
}

fn slot_name(key: &TokenKey) -> String {
    let n = u16::from_le_bytes([key[0], key[1]]) % SLOTS;
    format!("gatehouse.cache.{n}")
}

/// The proxy's cache secret: the one published, else `own`, published (if two workers publish
/// at once, the last write wins and is what both read back).
pub(super) fn secret<H: Host>(host: &mut H, own: &Secret) -> Secret {
    if let Some(s) = host
        .shared_get(SECRET_KEY)
        .and_then(|b| Secret::from_bytes(&b))
    {
        return s;
    }
    host.shared_set(SECRET_KEY, &own.to_bytes());
    host.shared_get(SECRET_KEY)
        .and_then(|b| Secret::from_bytes(&b))
        .unwrap_or_else(|| own.clone())
}

/// The verification another worker shared for `key`, when it holds for `tag` at `now`.
pub(super) fn get<H: Host>(host: &H, key: &TokenKey, tag: u64, now: u64) -> Option<VerifiedToken> {
    let bytes = host.shared_get(&slot_name(key))?;
    if bytes.len() > MAX_SLOT_BYTES {
        return None;
    }
    let slot: Slot = serde_json::from_slice(&bytes).ok()?;
    (slot.k == *key && slot.t == tag && now <= slot.v.expires_at).then_some(slot.v)
}

/// Shares a verification with the proxy's other workers.
pub(super) fn put<H: Host>(host: &mut H, key: &TokenKey, tag: u64, token: &VerifiedToken) {
    let slot = Slot {
        k: *key,
        t: tag,
        v: token.clone(),
    };
    if let Ok(bytes) = serde_json::to_vec(&slot) {
        if bytes.len() <= MAX_SLOT_BYTES {
            host.shared_set(&slot_name(key), &bytes);
        }
    }
}
