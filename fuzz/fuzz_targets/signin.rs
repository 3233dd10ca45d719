//! Browser sign-in's hostile input: the fuzzed bytes as a `Cookie` header (the session and
//! sign-in cookies joined, opened under the gateway's keys), a callback's query, and a token
//! endpoint's answer with any status. Nothing may panic; nothing the fuzzer writes opens as a
//! sealed value (it would need the key), and what the gateway sealed opens again.
#![no_main]

use gatehouse_filter::signin::cookie::{join, request_cookies, CookieKeys};
use gatehouse_filter::signin::flow::{callback_query, id_claims, id_token_of, safe_return};
use libfuzzer_sys::fuzz_target;

const KEYS: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

fuzz_target!(|data: &[u8]| {
    let Ok(keys) = CookieKeys::parse(KEYS) else {
        return;
    };
    let headers = vec![("cookie".to_owned(), data.to_vec())];
    let cookies = request_cookies(&headers);
    if let Some(sealed) = join(&cookies, "__Host-gatehouse") {
        assert!(keys.open("session:dex", &sealed).is_err(), "a forged cookie opened");
    }
    let text = String::from_utf8_lossy(data);
    assert!(keys.open("session:dex", &text).is_err(), "a forged value opened");
    if let Ok(sealed) = keys.seal("session:dex", data) {
        assert_eq!(keys.open("session:dex", &sealed).ok().as_deref(), Some(data));
    }
    let _ = callback_query(&text);
    let _ = id_token_of(u32::from(data.first().copied().unwrap_or(0)) * 2, data);
    let _ = id_claims(&text);
    let back = safe_return(&text);
    assert!(back.starts_with('/') && !back.starts_with("//") && !back.contains('\\'));
});
