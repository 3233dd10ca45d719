//! Gatehouse filter: the decision engine (plain Rust, builds natively and for `wasm32-wasip1`)
//! and, on wasm32 only, the proxy-wasm glue that runs it inside Envoy.
//!
//! - [`table`]: the compiled table, the versioned contract with `gatehouse compile`.
//! - [`engine`]: table + identity + request → [`engine::Decision`].
//! - [`token`]: ALB and bearer token verification with keys from the table.
//! - [`path`], [`route`], [`acl`]: the engine's parts.
//! - [`live`]: the background key refresher (issuer key endpoints, unknown kids, held
//!   requests) as a state machine the root context drives.
//! - [`signin`]: browser sign-in (OpenID Connect code flow with PKCE, sealed session cookies).

pub mod acl;
pub mod cache;
pub mod engine;
pub mod gate;
pub mod headers;
pub mod host;
pub mod identity;
pub mod live;
pub mod observe;
pub mod path;
pub mod pipeline;
pub mod reason;
pub mod route;
pub mod signin;
pub mod table;
pub mod token;
pub mod wire;

#[cfg(target_arch = "wasm32")]
mod wasm;

pub use engine::{Decision, Engine, Identity, Preflight, Verdict};
pub use reason::DenyReason;
