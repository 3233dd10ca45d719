//! The binary and signed forms: round trips, and every way bytes can fail to be a table.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use super::*;
use crate::table::{GrantSpec, Subject as TableSubject};

fn table() -> Table {
    let json = include_str!("../../../testdata/hostile/table.json");
    let mut t: Table = serde_json::from_str(json).unwrap();
    let spec = |role: &str, apis: Option<&[&str]>| GrantSpec {
        role: role.into(),
        apis: apis.map(|a| a.iter().map(|s| s.to_string()).collect()),
        source: "a.yaml:1".into(),
    };
    let ns = t.grants.entry("team-a".into()).or_default();
    ns.insert(
        TableSubject::User("ann@example.com".into()),
        vec![spec("read_only", None)],
    );
    ns.insert(
        TableSubject::Group("ops".into()),
        vec![
            spec("developer", Some(&["fraud", "churn"])),
            spec("read_only", None),
        ],
    );
    t.grants.entry("*".into()).or_default().insert(
        TableSubject::Group("auditors".into()),
        vec![spec("read_only", None)],
    );
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
        acl.namespace_count(),
        full.grants
            .keys()
            .filter(|k| k.namespace().is_some())
            .count()
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

/// A binary table with the body given, the header of a real one.
fn with_body(names: Vec<Front<'static>>, subjects: Vec<Subject>) -> Vec<u8> {
    let mut t = table();
    t.grants.clear();
    let body = Compact {
        header: Cow::Owned(serde_json::to_string(&t).unwrap()),
        name_bytes: 0,
        names,
        subjects,
    };
    let mut out = BINARY_MAGIC.to_vec();
    out.extend_from_slice(&BINARY_VERSION.to_le_bytes());
    postcard::to_extend(&body, out).unwrap()
}

fn front(prefix: u32, middle: &'static str) -> Front<'static> {
    Front {
        prefix,
        suffix: 0,
        middle: Cow::Borrowed(middle),
    }
}

fn subject(step: u32, group: bool, scopes: &[u32]) -> Subject {
    Subject {
        step,
        group,
        scopes: scopes
            .iter()
            .map(|n| Scope {
                namespace: *n,
                grants: vec![CompactGrant {
                    role: 0,
                    apis: None,
                }],
            })
            .collect(),
    }
}

/// Both readers of a binary table must refuse it, saying `what`.
fn refused(bytes: &[u8], what: &str) {
    let full = decode(bytes).unwrap_err().to_string();
    assert!(full.contains(what), "decode: {full}");
    let gateway = load_for_gateway(bytes).err().unwrap().to_string();
    assert!(gateway.contains(what), "gateway: {gateway}");
}

#[test]
fn names_are_front_coded_and_grants_read_the_same_both_ways() {
    let t = table();
    let bytes = encode(&t).unwrap();
    // "ann@example.com" and "auditors" share "a".
    let body: Compact<'_> = postcard::from_bytes(body(&bytes).unwrap()).unwrap();
    let shared: Vec<u32> = body.names.iter().map(|f| f.prefix).collect();
    assert_eq!(shared.first(), Some(&0));
    assert!(shared.iter().any(|s| *s > 0), "{shared:?}");
    let (_, acl) = load_for_gateway(&bytes).unwrap();
    let full = decode(&bytes).unwrap();
    for (ns, subjects) in &full.grants {
        for (subject, grants) in subjects {
            let groups = [subject.name().to_string()];
            let (user, groups) = if subject.is_group() {
                ("", &groups[..])
            } else {
                (subject.name(), &[][..])
            };
            let found: Vec<String> = acl
                .grants_for(ns.namespace().unwrap_or("elsewhere"), user, groups)
                .map(|g| acl.role_name(&g).to_string())
                .collect();
            let want: Vec<String> = grants.iter().map(|g| g.role.clone()).collect();
            assert!(
                found.starts_with(&want),
                "{ns} {subject}: {found:?} vs {want:?}"
            );
        }
    }
}

#[test]
fn unsorted_repeated_or_unknown_names_and_subjects_are_refused() {
    let ok = with_body(
        vec![front(0, "ann"), front(0, "bob"), front(0, "team-a")],
        vec![subject(0, false, &[3, 0]), subject(1, false, &[3])],
    );
    assert!(decode(&ok).is_ok());
    assert!(load_for_gateway(&ok).is_ok());
    let names = |n: Vec<Front<'static>>| with_body(n, vec![]);
    refused(
        &names(vec![front(0, "bob"), front(0, "ann")]),
        "sorted and unique",
    );
    refused(
        &names(vec![front(0, "ann"), front(3, "")]),
        "sorted and unique",
    );
    refused(&names(vec![front(0, "ann"), front(9, "x")]), "cannot");
    // A shared prefix that ends inside a character.
    refused(&names(vec![front(0, "é"), front(1, "x")]), "cannot");
    let three = || vec![front(0, "ann"), front(0, "bob"), front(0, "team-a")];
    let subjects = |s: Vec<Subject>| with_body(three(), s);
    refused(
        &subjects(vec![subject(1, false, &[3]), subject(0, false, &[3])]),
        "out of order",
    );
    refused(&subjects(vec![subject(0, false, &[3, 3])]), "out of order");
    refused(&subjects(vec![subject(0, false, &[0, 3])]), "out of order");
    refused(&subjects(vec![subject(7, false, &[3])]), "the table");
    refused(&subjects(vec![subject(0, false, &[9])]), "the table");
    refused(
        &subjects(vec![subject(2, false, &[3]), subject(u32::MAX, true, &[3])]),
        "overflows",
    );
    // The same name as a user and as a group: two subjects, in that order.
    assert!(load_for_gateway(&subjects(vec![
        subject(0, false, &[3]),
        subject(0, true, &[3])
    ]))
    .is_ok());
    let mut bad_role = subject(0, false, &[3]);
    bad_role.scopes[0].grants[0].role = 99;
    refused(&subjects(vec![bad_role]), "role 99");
}

#[test]
fn names_code_against_the_one_before_at_both_ends() {
    let names = [
        "",
        "a",
        "ab",
        "abab",
        "user-10007@example.com",
        "user-10008@example.com",
        "user-1001@example.com",
        "zé",
        "zéé",
        "zü€",
        "zü€€",
        "€",
        "x€",
    ];
    let (mut name, mut tail) = (String::new(), String::new());
    let mut prev = "";
    for n in names {
        let f = Front::new(prev, n);
        f.apply(&mut name, &mut tail).unwrap();
        assert_eq!(name, n, "after `{prev}`");
        prev = n;
    }
    let f = Front::new("user-10007@example.com", "user-10008@example.com");
    assert_eq!((f.prefix, f.suffix, &*f.middle), (9, 12, "8"));
    // Shared bytes the previous name does not have, or a cut inside a character.
    let bad = |prefix, suffix, prev: &str| {
        let f = Front {
            prefix,
            suffix,
            middle: Cow::Borrowed("x"),
        };
        let mut name = prev.to_string();
        f.apply(&mut name, &mut String::new()).unwrap_err()
    };
    assert!(bad(2, 2, "abc").contains("cannot"));
    assert!(bad(0, 4, "abc").contains("cannot"));
    assert!(bad(0, 1, "é").contains("cannot"));
    assert!(bad(1, 0, "é").contains("cannot"));
}
