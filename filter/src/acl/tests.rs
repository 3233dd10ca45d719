//! The flat ACL: lookups in the order decisions rely on, and the builder's refusals.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use super::*;
use crate::table::{GrantSpec, Scope, Subject};

fn table(grants: &[(&str, &str, &str, Option<&[&str]>)]) -> Table {
    let mut t: Table =
        serde_json::from_str(include_str!("../../../testdata/hostile/table.json")).unwrap();
    t.grants.clear();
    for (i, (ns, subject, role, apis)) in grants.iter().enumerate() {
        t.grants
            .entry(Scope::parse(ns))
            .or_default()
            .entry(Subject::parse(subject).unwrap())
            .or_default()
            .push(GrantSpec {
                role: role.to_string(),
                apis: apis.map(|a| a.iter().map(|s| s.to_string()).collect()),
                source: format!("g{i}"),
            });
    }
    t
}

fn sources(acl: &Acl, ns: &str, user: &str, groups: &[&str]) -> Vec<String> {
    let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    acl.grants_for(ns, user, &groups)
        .map(|g| acl.source(&g).unwrap().to_string())
        .collect()
}

#[test]
fn namespace_grants_come_first_and_the_users_before_its_groups() {
    let t = table(&[
        ("*", "group:ops", "read_only", None),
        ("*", "user:ann", "read_only", None),
        ("team-a", "group:ops", "read_only", None),
        ("team-a", "user:ann", "developer", None),
        ("team-b", "user:ann", "read_only", None),
        // A group and a user of the same name are different subjects.
        ("team-a", "user:ops", "read_only", None),
    ]);
    let acl = Acl::new(&t, true).unwrap();
    assert_eq!(
        sources(&acl, "team-a", "ann", &["ops"]),
        ["g3", "g2", "g1", "g0"]
    );
    assert_eq!(sources(&acl, "team-b", "ann", &[]), ["g4", "g1"]);
    assert_eq!(sources(&acl, "team-c", "ann", &["ops"]), ["g1", "g0"]);
    assert_eq!(sources(&acl, "team-a", "ops", &[]), ["g5"]);
    assert_eq!(
        sources(&acl, "team-a", "bob", &["ann"]),
        Vec::<String>::new()
    );
    assert_eq!(acl.namespace_count(), 2);
    let g = acl.grants_for("team-a", "ann", &[]).next().unwrap();
    assert_eq!(acl.role_name(&g), "developer");
    assert_eq!(Some(g.actions), acl.actions_of("developer"));
}

#[test]
fn api_sets_are_shared_and_judged_by_id() {
    let t = table(&[
        (
            "team-a",
            "user:ann",
            "developer",
            Some(&["fraud", "churn", "fraud"]),
        ),
        ("team-a", "user:bob", "developer", Some(&["churn", "fraud"])),
        ("team-a", "user:cat", "developer", None),
    ]);
    let acl = Acl::new(&t, false).unwrap();
    let deploy = acl.actions["deploy"];
    let grant = |user: &'static str| acl.grants_for("team-a", user, &[]).next().unwrap();
    assert_eq!(grant("ann").apis, grant("bob").apis);
    assert_eq!(grant("ann").apis.unwrap().len(), 2);
    assert!(grant("ann").covers(deploy, acl.api_ref(Some("fraud"))));
    assert!(!grant("ann").covers(deploy, acl.api_ref(Some("other"))));
    assert!(!grant("ann").covers(deploy, acl.api_ref(None)));
    assert!(grant("cat").covers(deploy, acl.api_ref(Some("other"))));
    // Without provenance no source is kept.
    assert_eq!(acl.source(&grant("ann")), None);
}

#[test]
fn names_must_come_sorted_and_once() {
    let mut names = Names::default();
    assert_eq!(names.push("b").unwrap(), 0);
    assert_eq!(names.push("c").unwrap(), 1);
    assert!(names.push("c").unwrap_err().contains("sorted and unique"));
    assert!(names.push("a").is_err());
    assert_eq!(names.id("c"), Some(1));
    assert_eq!(names.id("a"), None);
    assert_eq!(names.get(0), Some("b"));
    assert_eq!(names.get(2), None);
    // Many names: every one found again (the index grows past its first capacity).
    let mut many = Names::default();
    let list: Vec<String> = (0..5000)
        .map(|i| format!("user-{i:05}@example.com"))
        .collect();
    for n in &list {
        many.push(n).unwrap();
    }
    for (i, n) in list.iter().enumerate() {
        assert_eq!(many.id(n), Some(i as u32));
    }
}

#[test]
fn entries_out_of_order_twice_or_unknown_are_refused() {
    let t = table(&[]);
    let mut acl = Acl::with_roles(&t).unwrap();
    for n in ["ann", "bob", "team-a"] {
        acl.names_mut().push(n).unwrap();
    }
    let role = acl.role("developer").unwrap();
    acl.push_entry(1, false, 2).unwrap();
    acl.push_grant(role, EVERY_API, "").unwrap();
    assert!(acl
        .push_entry(0, false, 2)
        .unwrap_err()
        .contains("out of order"));
    assert!(acl
        .push_entry(1, false, 2)
        .unwrap_err()
        .contains("out of order"));
    assert!(acl.push_entry(7, false, 2).is_err());
    assert!(acl.push_entry(1, true, 9).is_err());
    acl.push_entry(1, true, 2).unwrap();
    assert!(acl.push_grant(999, EVERY_API, "").is_err());
    assert!(acl.push_grant(role, 3, "").is_err());
    acl.push_entry(1, true, EVERY_NAMESPACE).unwrap();
    acl.push_grant(role, EVERY_API, "").unwrap();
    acl.finish();
    assert_eq!(acl.grants_for("team-a", "bob", &[]).count(), 1);
    assert_eq!(acl.grants_for("team-x", "x", &["bob".into()]).count(), 1);
    assert_eq!(acl.grants_for("team-a", "ann", &[]).count(), 0);
}
