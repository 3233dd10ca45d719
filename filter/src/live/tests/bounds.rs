//! Building a refresher: bounds and issuers are checked.

use super::*;

fn issuer(name: &str, source: KeySource) -> LiveIssuer {
    LiveIssuer {
        name: name.into(),
        source,
        seed_kids: vec![],
    }
}

#[test]
fn defaults_are_the_documented_ones() {
    let b = RefreshBounds::default();
    assert_eq!(
        (b.min_interval_s, b.max_interval_s, b.refetch_interval_s),
        (60, 3600, 30)
    );
    assert_eq!(
        (b.hold_ms, b.max_held, b.fetch_timeout_ms),
        (1500, 64, 5000)
    );
    assert_eq!(b.max_body_bytes, 256 * 1024);
    assert_eq!(
        (b.max_kid_fetches, b.max_negative_kids, b.max_alb_keys),
        (4, 256, 64)
    );
    assert_eq!(b.check(), Ok(()));
}

#[test]
fn bad_bounds_are_refused() {
    let bad = [
        RefreshBounds {
            min_interval_s: 0,
            ..RefreshBounds::default()
        },
        RefreshBounds {
            max_interval_s: 59,
            ..RefreshBounds::default()
        },
        RefreshBounds {
            refetch_interval_s: 0,
            ..RefreshBounds::default()
        },
        RefreshBounds {
            max_body_bytes: 0,
            ..RefreshBounds::default()
        },
        RefreshBounds {
            max_kid_fetches: 0,
            ..RefreshBounds::default()
        },
    ];
    for b in bad {
        assert!(KeyRefresh::new(vec![], b.clone()).is_err(), "{b:?}");
    }
}

#[test]
fn issuers_are_checked() {
    let twice = vec![issuer(DEX, dex_source()), issuer(DEX, alb_source())];
    let err = KeyRefresh::new(twice, RefreshBounds::default()).err();
    assert_eq!(
        err.as_deref(),
        Some("issuer `https://dex.example.com` is listed twice")
    );
    let relative = KeySource::Jwks {
        cluster: "c".into(),
        authority: "a".into(),
        path: "keys".into(),
    };
    assert!(KeyRefresh::new(vec![issuer(DEX, relative)], RefreshBounds::default()).is_err());
    assert_eq!(
        dex_source().target().0,
        "outbound|5556||dex.auth.svc.cluster.local"
    );
}
