//! Loading a binary table the gateway's way: names go from the bytes into the ACL's arena and
//! grants into its flat arrays as postcard decodes them, in the order the table lists them
//! (sorted, which the ACL checks), so nothing is sorted, re-hashed or held twice. A worker's
//! peak memory during a load (which its wasm memory keeps) is the table's bytes and the ACL.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};

use super::{body, scope_of, OrderCheck, WireError};
use crate::acl::{Acl, EVERY_API};
use crate::table::Table;

/// Decodes a binary table into the table without its grants and the gateway's ACL.
pub fn load(bytes: &[u8]) -> Result<(Table, Acl), WireError> {
    let body = body(bytes)?;
    let mut st = State {
        acl: Acl::default(),
        order: OrderCheck::default(),
        error: None,
        body_len: body.len(),
    };
    let mut table = None;
    let mut de = postcard::Deserializer::from_bytes(body);
    let read = Whole {
        st: &mut st,
        table: &mut table,
    }
    .deserialize(&mut de);
    // postcard keeps no message of its own for a visitor's error: the state holds it.
    if let Err(e) = read {
        return Err(WireError::Body(st.error.unwrap_or_else(|| e.to_string())));
    }
    let table = table.ok_or_else(|| WireError::Body("empty table".into()))?;
    st.acl.finish();
    Ok((table, st.acl))
}

/// What the readers below share.
struct State {
    acl: Acl,
    order: OrderCheck,
    /// The first error's message.
    error: Option<String>,
    body_len: usize,
}

impl State {
    /// An error, its message kept.
    fn fail<E: de::Error>(&mut self, message: impl Into<String>) -> E {
        let message = message.into();
        let e = E::custom(&message);
        self.error.get_or_insert(message);
        e
    }
}

/// A sequence's claimed length, bounded by the bytes it could take (`min_bytes` each), so a
/// hostile count never reserves more than the table could hold.
fn bounded(hint: Option<usize>, body_len: usize, min_bytes: usize) -> usize {
    hint.unwrap_or(0).min(body_len / min_bytes)
}

/// Implements [`DeserializeSeed`] for a seed that is its own visitor of a sequence or a struct.
macro_rules! seed {
    ($seed:ident, seq) => {
        impl<'de> DeserializeSeed<'de> for $seed<'_> {
            type Value = ();
            fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
                d.deserialize_seq(self)
            }
        }
    };
    ($seed:ident, struct $name:literal [$($field:literal),*]) => {
        impl<'de> DeserializeSeed<'de> for $seed<'_> {
            type Value = ();
            fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
                d.deserialize_struct($name, &[$($field),*], self)
            }
        }
    };
}

/// The whole body: header, names, then every subject's grants into the ACL.
struct Whole<'a> {
    st: &'a mut State,
    table: &'a mut Option<Table>,
}
seed!(Whole, struct "Compact" ["header", "name_bytes", "names", "subjects"]);

impl<'de> Visitor<'de> for Whole<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a binary table")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let st = self.st;
        let header: Cow<'de, str> = match seq.next_element()? {
            Some(h) => h,
            None => return Err(st.fail("no header")),
        };
        let table = super::header(&header).map_err(|e| st.fail::<A::Error>(e))?;
        st.acl = Acl::with_roles(&table).map_err(|e| st.fail::<A::Error>(e))?;
        let Some(name_bytes) = seq.next_element::<u32>()? else {
            return Err(st.fail("no name_bytes"));
        };
        // A hint: front coding rarely more than quadruples the bytes; past that, the arena
        // grows as the names really arrive.
        let bytes_hint = (name_bytes as usize).min(st.body_len.saturating_mul(4));
        if seq
            .next_element_seed(NamesSeed {
                st: &mut *st,
                bytes_hint,
            })?
            .is_none()
        {
            return Err(st.fail("no names"));
        }
        if seq.next_element_seed(Subjects { st: &mut *st })?.is_none() {
            return Err(st.fail("no subjects"));
        }
        *self.table = Some(table);
        Ok(())
    }
}

/// The names, each rebuilt from the one before it straight into the ACL's arena.
struct NamesSeed<'a> {
    st: &'a mut State,
    bytes_hint: usize,
}
seed!(NamesSeed, seq);

impl<'de> Visitor<'de> for NamesSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the table's names")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let st = self.st;
        // Every name takes at least two bytes.
        let n = bounded(seq.size_hint(), st.body_len, 2);
        st.acl.names_mut().reserve(n, self.bytes_hint);
        let (mut name, mut tail) = (String::new(), String::new());
        while let Some(f) = seq.next_element::<super::Front<'de>>()? {
            let pushed = f
                .apply(&mut name, &mut tail)
                .and_then(|()| st.acl.names_mut().push_after(&name, f.prefix as usize));
            pushed.map_err(|e| st.fail::<A::Error>(e))?;
        }
        Ok(())
    }
}

/// Every subject, its grants added to the ACL as they are decoded.
struct Subjects<'a> {
    st: &'a mut State,
}
seed!(Subjects, seq);

impl<'de> Visitor<'de> for Subjects<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the table's subjects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // Every subject takes at least five bytes (step, group, one scope, its id, no grants);
        // most have one grant.
        let n = bounded(seq.size_hint(), self.st.body_len, 5);
        self.st.acl.reserve(n, n);
        while seq
            .next_element_seed(OneSubject { st: &mut *self.st })?
            .is_some()
        {}
        Ok(())
    }
}

/// One subject: its name step and kind, then its scopes.
struct OneSubject<'a> {
    st: &'a mut State,
}
seed!(OneSubject, struct "Subject" ["step", "group", "scopes"]);

impl<'de> Visitor<'de> for OneSubject<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a subject")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let st = self.st;
        let (Some(step), Some(group)) = (seq.next_element::<u32>()?, seq.next_element::<bool>()?)
        else {
            return Err(st.fail("a subject without its name or kind"));
        };
        let name = st
            .order
            .subject(step, group)
            .map_err(|e| st.fail::<A::Error>(e))?;
        if seq
            .next_element_seed(Scopes {
                st: &mut *st,
                name,
                group,
            })?
            .is_none()
        {
            return Err(st.fail("a subject without scopes"));
        }
        Ok(())
    }
}

/// A subject's scopes.
struct Scopes<'a> {
    st: &'a mut State,
    name: u32,
    group: bool,
}
seed!(Scopes, seq);

impl<'de> Visitor<'de> for Scopes<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a subject's scopes")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(OneScope {
                st: &mut *self.st,
                name: self.name,
                group: self.group,
            })?
            .is_some()
        {}
        Ok(())
    }
}

/// One scope: its namespace, then its grants.
struct OneScope<'a> {
    st: &'a mut State,
    name: u32,
    group: bool,
}
seed!(OneScope, struct "Scope" ["namespace", "grants"]);

impl<'de> Visitor<'de> for OneScope<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a scope")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let st = self.st;
        let Some(namespace) = seq.next_element::<u32>()? else {
            return Err(st.fail("a scope without a namespace"));
        };
        // push_entry refuses entries out of (name, kind, scope) order, scopes included.
        let scope = scope_of(namespace);
        let started = st.acl.push_entry(self.name, self.group, scope);
        started.map_err(|e| st.fail::<A::Error>(e))?;
        if seq.next_element_seed(Grants { st: &mut *st })?.is_none() {
            return Err(st.fail("a scope without grants"));
        }
        Ok(())
    }
}

/// A scope's grants.
struct Grants<'a> {
    st: &'a mut State,
}
seed!(Grants, seq);

impl<'de> Visitor<'de> for Grants<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a scope's grants")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let st = self.st;
        while let Some(g) = seq.next_element::<super::CompactGrant>()? {
            let added = grant(&mut st.acl, g);
            added.map_err(|e| st.fail::<A::Error>(e))?;
        }
        Ok(())
    }
}

/// Adds one decoded grant to the entry being read.
fn grant(acl: &mut Acl, g: super::CompactGrant) -> Result<(), String> {
    let apis = match g.apis {
        Some(ids) => {
            let mut list = Vec::with_capacity(ids.len());
            for id in ids {
                let name = acl
                    .name(id)
                    .ok_or_else(|| format!("name {id} is not in the table"))?
                    .to_string();
                list.push(acl.intern_api(&name));
            }
            acl.api_set(list)
        }
        None => EVERY_API,
    };
    acl.push_grant(g.role, apis, "")
}
