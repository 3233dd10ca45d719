//! Reading answers: `Cache-Control`, kid shapes, key-count cap.

use super::*;
use crate::live::{body, is_uuid, max_age, MAX_KEYS_PER_SET};

fn cc(values: &[&str]) -> Vec<(String, String)> {
    values
        .iter()
        .map(|v| ("cache-control".to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn max_age_reads_the_directive_and_nothing_else() {
    assert_eq!(max_age(&cc(&["max-age=600"])), Some(600));
    assert_eq!(max_age(&cc(&["public, MAX-AGE = 600 "])), Some(600));
    assert_eq!(max_age(&cc(&["max-age=\"42\""])), Some(42));
    assert_eq!(max_age(&cc(&["s-maxage=5"])), None);
    assert_eq!(max_age(&cc(&["max-age=-1"])), None);
    assert_eq!(max_age(&cc(&["max-age=1e3"])), None);
    assert_eq!(max_age(&cc(&["max-age="])), None);
    assert_eq!(max_age(&cc(&["no-store"])), None);
    assert_eq!(max_age(&cc(&["no-store", "max-age=7"])), Some(7));
    assert_eq!(
        max_age(&cc(&["max-age=99999999999999999999999"])),
        Some(u64::MAX)
    );
    let other = vec![("x-cache-control".to_owned(), "max-age=5".to_owned())];
    assert_eq!(max_age(&other), None);
    let mixed = vec![("Cache-Control".to_owned(), "max-age=5".to_owned())];
    assert_eq!(max_age(&mixed), Some(5));
}

#[test]
fn uuids_are_recognized_by_shape() {
    assert!(is_uuid("4a6bd4b5-2c3e-4f8a-9d1e-0123456789ab"));
    assert!(is_uuid("4A6BD4B5-2C3E-4F8A-9D1E-0123456789AB"));
    assert!(!is_uuid("4a6bd4b5-2c3e-4f8a-9d1e-0123456789ag"));
    assert!(!is_uuid("4a6bd4b5_2c3e-4f8a-9d1e-0123456789ab"));
    assert!(!is_uuid("4a6bd4b5-2c3e-4f8a-9d1e-0123456789ab\n"));
    assert!(!is_uuid("é6bd4b5-2c3e-4f8a-9d1e-0123456789ab"));
    for uuid in random_uuids(100, 3) {
        assert!(is_uuid(&uuid), "{uuid}");
    }
}

#[test]
fn a_jwks_over_the_key_cap_is_refused() {
    let kids: Vec<String> = (0..=MAX_KEYS_PER_SET).map(|i| format!("k{i}")).collect();
    let keys: Vec<(&str, TestKey)> = kids.iter().map(|k| (k.as_str(), DEX_KEY)).collect();
    let too_many = jwks(&keys);
    assert!(body::jwks_keys(too_many.as_bytes()).is_err());
    let enough = jwks(&keys[..MAX_KEYS_PER_SET]);
    assert_eq!(
        body::jwks_keys(enough.as_bytes()).map(|k| k.len()).ok(),
        Some(MAX_KEYS_PER_SET)
    );
}

#[test]
fn every_test_jwks_reads() {
    for file in [
        key_file!("dex.jwks.json"),
        key_file!("cognito.jwks.json"),
        key_file!("eks-sa.jwks.json"),
        key_file!("extra.jwks.json"),
    ] {
        assert!(body::jwks_keys(file.as_bytes()).is_ok());
    }
    assert!(body::jwks_keys(key_file!("invalid-rsa-1024.jwks.json").as_bytes()).is_err());
    assert!(body::alb_key(key_file!("alb-1.pem").as_bytes()).is_ok());
    assert!(body::alb_key(key_file!("extra-es256.pem").as_bytes()).is_ok());
}
