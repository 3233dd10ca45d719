//! The binary and signed forms: round trips, and every way bytes can fail to be a table.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use super::*;
use crate::table::GrantSpec;

fn table() -> Table {
    let json = include_str!("../../../testdata/hostile/table.json");
    let mut t: Table = serde_json::from_str(json).unwrap();
    let spec = |role: &str, apis: Option<&[&str]>| GrantSpec {
        role: role.into(),
        apis: apis.map(|a| a.iter().map(|s| s.to_string()).collect()),
        source: "a.yaml:1".into(),
    };
    let ns = t.grants.entry("team-a".into()).or_default();
    ns.insert("user:ann@example.com".into(), vec![spec("read_only", None)]);
    ns.insert(
        "group:ops".into(),
        vec![
            spec("developer", Some(&["fraud", "churn"])),
            spec("read_only", None),
        ],
    );
    t.grants
        .entry("*".into())
        .or_default()
        .insert("group:auditors".into(), vec![spec("read_only", None)]);
    t
}

/// The table without its grants' sources: what the binary form keeps.
fn without_sources(mut t: Table) -> Table {
    for subjects in t.grants.values_mut() {
        for grants in subjects.values_mut() {
            for g in grants {
                g.source.clear();
            }
        }
    }
    t
}

#[test]
fn binary_round_trips_everything_but_sources() {
    let t = table();
    let bytes = encode(&t).unwrap();
    assert_eq!(form(&bytes), Some(Form::Binary));
    assert_eq!(decode(&bytes).unwrap(), without_sources(t.clone()));
    let json = serde_json::to_vec(&t).unwrap();
    assert_eq!(form(&json), Some(Form::Json));
    assert!(
        bytes.len() < json.len(),
        "{} >= {}",
        bytes.len(),
        json.len()
    );
}

#[test]
fn another_version_truncation_and_garbage_are_refused() {
    let bytes = encode(&table()).unwrap();
    let mut other = bytes.clone();
    other[4] = 9;
    assert_eq!(decode(&other), Err(WireError::Version(9)));
    for cut in [4, 7, 8, 20, bytes.len() / 2, bytes.len() - 1] {
        assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        assert!(load_for_gateway(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    assert!(matches!(
        load_for_gateway(&other),
        Err(WireError::Version(9))
    ));
    // The gateway's loader and the full decoder read the same table.
    let (table, acl) = load_for_gateway(&bytes).unwrap();
    let full = decode(&bytes).unwrap();
    assert_eq!(table.routes, full.routes);
    assert_eq!(
        acl.namespaces.len(),
        full.grants.keys().filter(|k| *k != "*").count()
    );
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0xff;
    // A flipped byte may still decode (postcard has no checksum: signatures are the check);
    // it must never panic, and a string id out of range is refused.
    let _ = decode(&flipped);
    let _ = load_for_gateway(&flipped);
    assert_eq!(form(b"GHTX"), None);
    assert_eq!(form(b"  {"), Some(Form::Json));
}

#[test]
fn signed_tables_open_only_with_a_trusted_key_and_an_intact_signature() {
    let seed = [7u8; 32];
    let other = [8u8; 32];
    let binary = encode(&table()).unwrap();
    let signed = sign(&binary, &seed);
    assert_eq!(form(&signed), Some(Form::Signed));
    let trusted = [public_key(&seed)];
    assert_eq!(open(&signed, &trusted).unwrap(), binary.as_slice());
    // Another key, alone or beside it.
    assert!(matches!(
        open(&signed, &[public_key(&other)]),
        Err(WireError::UnknownKey(_))
    ));
    assert!(open(&signed, &[public_key(&other), public_key(&seed)]).is_ok());
    // Every byte after the key matters: the signature and the table.
    for i in [37, 60, 100, 101, signed.len() - 1] {
        let mut t = signed.clone();
        t[i] ^= 1;
        assert_eq!(open(&t, &trusted), Err(WireError::BadSignature), "byte {i}");
    }
    // A key swapped in for the signer's is a key nobody trusts, or a bad signature.
    let mut swapped = signed.clone();
    swapped[5..37].copy_from_slice(&public_key(&other));
    assert!(open(&swapped, &[public_key(&other)]) == Err(WireError::BadSignature));
    for cut in [0, 4, 5, 36, 100] {
        assert!(open(&signed[..cut], &trusted).is_err(), "cut at {cut}");
    }
    let mut version = signed.clone();
    version[4] = 2;
    assert_eq!(open(&version, &trusted), Err(WireError::EnvelopeVersion(2)));
    assert_eq!(open(&binary, &trusted), Err(WireError::NotSigned));
}

#[test]
fn public_keys_read_back() {
    let key = public_key(&[1u8; 32]);
    let text = base64_key(&key);
    assert_eq!(parse_public_key(&text).unwrap(), key);
    assert_eq!(parse_public_key(&format!(" {text}\n")).unwrap(), key);
    assert!(parse_public_key("AAAA").unwrap_err().contains("32"));
    assert!(parse_public_key("not base64!").is_err());
}
