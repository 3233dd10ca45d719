//! Loading a binary table the gateway's way: the grants go from the bytes straight into the
//! ACL, scope by scope, as postcard decodes them. They are never held in their compact form, so
//! a worker's peak memory during a load (which its wasm memory keeps) is the table's bytes and
//! the ACL, and no more.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};

use super::{body, CompactGrant, WireError};
use crate::acl::{sorted, Acl, ActionSet, Grant, NO_SOURCE};
use crate::table::Table;

/// Decodes a binary table into the table without its grants and the gateway's ACL.
pub fn load(bytes: &[u8]) -> Result<(Table, Acl), WireError> {
    let body = body(bytes)?;
    let mut out = None;
    let mut de = postcard::Deserializer::from_bytes(body);
    Whole { out: &mut out }
        .deserialize(&mut de)
        .map_err(|e| WireError::Body(e.to_string()))?;
    out.ok_or_else(|| WireError::Body("empty table".into()))
}

/// Role and API lookups by string id, each done once.
struct Resolver<'s, 'de> {
    strings: &'s [Cow<'de, str>],
    roles: Vec<Option<(u32, ActionSet)>>,
    apis: Vec<Option<u32>>,
}

impl Resolver<'_, '_> {
    fn name<E: de::Error>(&self, id: u32) -> Result<&str, E> {
        self.strings
            .get(id as usize)
            .map(|s| &**s)
            .ok_or_else(|| E::custom(format!("string {id} is not in the table")))
    }

    fn grant<E: de::Error>(&mut self, acl: &mut Acl, g: CompactGrant) -> Result<Grant, E> {
        let (role, actions) = match self.roles.get(g.role as usize).copied().flatten() {
            Some(r) => r,
            None => {
                let name = self.name::<E>(g.role)?;
                let r = acl
                    .role(name)
                    .ok_or_else(|| E::custom(format!("a grant names unknown role `{name}`")))?;
                if let Some(slot) = self.roles.get_mut(g.role as usize) {
                    *slot = Some(r);
                }
                r
            }
        };
        let apis = match g.apis {
            Some(ids) => {
                let mut out = Vec::with_capacity(ids.len());
                for id in ids {
                    let api = match self.apis.get(id as usize).copied().flatten() {
                        Some(a) => a,
                        None => {
                            let a = acl.intern_api(self.name::<E>(id)?);
                            if let Some(slot) = self.apis.get_mut(id as usize) {
                                *slot = Some(a);
                            }
                            a
                        }
                    };
                    out.push(api);
                }
                Some(sorted(out))
            }
            None => None,
        };
        Ok(Grant {
            role,
            actions,
            apis,
            source: NO_SOURCE,
        })
    }
}

/// The whole body: header, strings, then the scopes into the ACL.
struct Whole<'o> {
    out: &'o mut Option<(Table, Acl)>,
}

impl<'de> DeserializeSeed<'de> for Whole<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_struct("Compact", &["header", "strings", "scopes"], self)
    }
}

impl<'de> Visitor<'de> for Whole<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a binary table")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let missing = |what: &str| de::Error::custom(format!("no {what}"));
        let header: Cow<'de, str> = seq.next_element()?.ok_or_else(|| missing("header"))?;
        let table = super::header(&header).map_err(de::Error::custom)?;
        let mut acl = Acl::with_roles(&table).map_err(de::Error::custom)?;
        let strings: Vec<Cow<'de, str>> = seq.next_element()?.ok_or_else(|| missing("strings"))?;
        let mut resolver = Resolver {
            strings: &strings,
            roles: vec![None; strings.len()],
            apis: vec![None; strings.len()],
        };
        seq.next_element_seed(Scopes {
            acl: &mut acl,
            resolver: &mut resolver,
        })?
        .ok_or_else(|| missing("scopes"))?;
        *self.out = Some((table, acl));
        Ok(())
    }
}

/// Every scope, each added to the ACL as it is decoded.
struct Scopes<'a, 's, 'de> {
    acl: &'a mut Acl,
    resolver: &'a mut Resolver<'s, 'de>,
}

impl<'de> DeserializeSeed<'de> for Scopes<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Scopes<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the table's scopes")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if let Some(n) = seq.size_hint() {
            // Bounded by the bytes: every scope takes at least two.
            self.acl.reserve_namespaces(n.min(1 << 20));
        }
        let mut subjects: Vec<(bool, u32, Vec<Grant>)> = Vec::new();
        while seq
            .next_element_seed(OneScope {
                acl: &mut *self.acl,
                resolver: &mut *self.resolver,
                subjects: &mut subjects,
            })?
            .is_some()
        {}
        Ok(())
    }
}

/// One scope: its namespace, then its subjects.
struct OneScope<'a, 's, 'de> {
    acl: &'a mut Acl,
    resolver: &'a mut Resolver<'s, 'de>,
    /// Reused from scope to scope.
    subjects: &'a mut Vec<(bool, u32, Vec<Grant>)>,
}

impl<'de> DeserializeSeed<'de> for OneScope<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_struct("Scope", &["namespace", "subjects"], self)
    }
}

impl<'de> Visitor<'de> for OneScope<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a scope")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let namespace: Option<u32> = seq
            .next_element()?
            .ok_or_else(|| de::Error::custom("no namespace"))?;
        self.subjects.clear();
        seq.next_element_seed(Subjects {
            acl: &mut *self.acl,
            resolver: &mut *self.resolver,
            out: &mut *self.subjects,
        })?
        .ok_or_else(|| de::Error::custom("no subjects"))?;
        let ns = match namespace {
            Some(id) => Some(self.resolver.name::<A::Error>(id)?),
            None => None,
        };
        // One namespace lookup per scope, its maps sized once.
        let target = self.acl.scope_mut(ns);
        let groups = self.subjects.iter().filter(|(g, _, _)| *g).count();
        target.reserve(self.subjects.len() - groups, groups);
        for (group, name, grants) in self.subjects.drain(..) {
            target.add(group, self.resolver.name::<A::Error>(name)?, grants);
        }
        Ok(())
    }
}

/// A scope's subjects, their grants resolved as they are decoded.
struct Subjects<'a, 's, 'de> {
    acl: &'a mut Acl,
    resolver: &'a mut Resolver<'s, 'de>,
    out: &'a mut Vec<(bool, u32, Vec<Grant>)>,
}

impl<'de> DeserializeSeed<'de> for Subjects<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Subjects<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a scope's subjects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(s) = seq.next_element::<SubjectHead>()? {
            let mut grants = Vec::with_capacity(s.grants.len());
            for g in s.grants {
                grants.push(self.resolver.grant::<A::Error>(self.acl, g)?);
            }
            self.out.push((s.group, s.name, grants));
        }
        Ok(())
    }
}

/// A subject as encoded (the same fields as the encoder's).
#[derive(serde::Deserialize)]
struct SubjectHead {
    group: bool,
    name: u32,
    grants: Vec<CompactGrant>,
}
