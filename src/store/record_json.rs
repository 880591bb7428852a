//! The JSON of the records every new lead writes — its client, inbox lead,
//! relationship and automation entry — byte-for-byte as serde_json writes
//! them, on the one writer thread. serde_json escapes every field name and
//! value a byte at a time and calls its writer several times per field
//! (~360 instructions a field, ~24k per new lead); here a name is copied
//! with its quotes and colon in one piece and a value goes through
//! [`push_json_str`]'s 16-byte check. Reading stays with serde_json, and
//! the tests hold each writer to serde_json's bytes and field set.

use std::collections::BTreeMap;

use super::records::{AutomationEntry, Client, InboxLead, Relationship};
use super::rendered::{push_json_object, push_json_str};
use crate::ascii::push_decimal;

/// A record the writer stores as JSON it writes itself.
pub trait RecordJson {
    /// Appends the record's JSON, as `serde_json::to_writer` would.
    fn write_json(&self, out: &mut Vec<u8>);
}

/// A member name as [`Object`] takes it: `"name":`.
macro_rules! name {
    ($name:literal) => {
        concat!("\"", $name, "\":")
    };
}

/// One JSON object being written, member by member, in serde's field order.
struct Object<'a> {
    out: &'a mut Vec<u8>,
    /// Whether a member was written (the next one needs a comma).
    any: bool,
}

impl<'a> Object<'a> {
    fn start(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Object { out, any: false }
    }

    /// A member's name, given quoted with its colon (`"name":`, from
    /// [`name!`]): names are Rust field names or serde renames of them, so
    /// nothing in them needs an escape.
    fn name(&mut self, quoted: &str) {
        if self.any {
            self.out.push(b',');
        }
        self.any = true;
        self.out.extend_from_slice(quoted.as_bytes());
    }

    fn str(&mut self, name: &str, value: &str) -> &mut Self {
        self.name(name);
        push_json_str(self.out, value);
        self
    }

    fn num(&mut self, name: &str, value: u64) -> &mut Self {
        self.name(name);
        push_decimal(self.out, value);
        self
    }

    fn bool(&mut self, name: &str, value: bool) -> &mut Self {
        self.name(name);
        self.out
            .extend_from_slice(if value { b"true" } else { b"false" });
        self
    }

    /// A string map, in its (sorted) order, as serde writes a `BTreeMap`.
    fn map(&mut self, name: &str, map: &BTreeMap<String, String>) -> &mut Self {
        self.name(name);
        push_json_object(self.out, map.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        self
    }

    fn ids(&mut self, name: &str, ids: &[u64]) -> &mut Self {
        self.name(name);
        self.out.push(b'[');
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            push_decimal(self.out, *id);
        }
        self.out.push(b']');
        self
    }

    fn end(&mut self) {
        self.out.push(b'}');
    }
}

impl RecordJson for Client {
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = Object::start(out);
        o.num(name!("id"), self.id)
            .num(name!("number"), self.number)
            .str(name!("created_at"), &self.created_at)
            .str(name!("created_local"), &self.created_local)
            .str(name!("updated_at"), &self.updated_at)
            .num(name!("profile"), self.profile.into())
            .num(name!("handling_status"), self.handling_status.into())
            .str(name!("lead_status"), &self.lead_status)
            .bool(name!("archived"), self.archived);
        self.for_each_mapped_member(|name, value| {
            o.str(name, value);
        });
        if self.possible_duplicate_of != 0 {
            o.num(name!("possible_duplicate_of"), self.possible_duplicate_of);
        }
        o.ids(name!("contacts"), &self.contacts)
            .map(name!("extension"), &self.extension)
            .end();
    }
}

impl RecordJson for InboxLead {
    fn write_json(&self, out: &mut Vec<u8>) {
        // Whole, so a field added to the struct cannot be left out here.
        let InboxLead {
            id,
            created_at,
            profile,
            datum,
            datum_do,
            email,
            phone,
            site,
            company,
            city,
            country,
            content,
            clid,
            client,
            pid,
            person,
            did,
            deal,
            user,
            user_name,
            status,
            status_name,
            rezult,
            rezult_name,
            clientpath,
            clientpath_name,
        } = self;
        Object::start(out)
            .num(name!("id"), *id)
            .str(name!("created_at"), created_at)
            .num(name!("profile"), (*profile).into())
            .str(name!("datum"), datum)
            .str(name!("datum_do"), datum_do)
            .str(name!("email"), email)
            .str(name!("phone"), phone)
            .str(name!("site"), site)
            .str(name!("company"), company)
            .str(name!("city"), city)
            .str(name!("country"), country)
            .str(name!("content"), content)
            .num(name!("clid"), *clid)
            .str(name!("client"), client)
            .num(name!("pid"), *pid)
            .str(name!("person"), person)
            .num(name!("did"), *did)
            .str(name!("deal"), deal)
            .num(name!("user"), *user)
            .str(name!("userName"), user_name)
            .num(name!("status"), (*status).into())
            .str(name!("statusName"), status_name)
            .num(name!("rezult"), (*rezult).into())
            .str(name!("rezultName"), rezult_name)
            .num(name!("clientpath"), *clientpath)
            .str(name!("clientpathName"), clientpath_name)
            .end();
    }
}

impl RecordJson for Relationship {
    fn write_json(&self, out: &mut Vec<u8>) {
        let Relationship {
            id,
            client,
            created_at,
            profile,
            kind,
            task,
            note,
            data,
        } = self;
        Object::start(out)
            .num(name!("id"), *id)
            .num(name!("client"), *client)
            .str(name!("created_at"), created_at)
            .num(name!("profile"), (*profile).into())
            .str(name!("kind"), kind)
            .bool(name!("task"), *task)
            .str(name!("note"), note)
            .map(name!("data"), data)
            .end();
    }
}

impl RecordJson for AutomationEntry {
    fn write_json(&self, out: &mut Vec<u8>) {
        let AutomationEntry {
            id,
            created_at,
            profile,
            client,
            fields,
        } = self;
        Object::start(out)
            .num(name!("id"), *id)
            .str(name!("created_at"), created_at)
            .num(name!("profile"), (*profile).into())
            .num(name!("client"), *client)
            .map(name!("fields"), fields)
            .end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Strings that need every kind of escape, and some that need none.
    fn awkward(i: usize) -> String {
        let samples = [
            "",
            "plain",
            "line\nbreak\t\"quoted\" back\\slash \u{1}\u{1f}\u{7f}",
            "דנה כהן 🙂 \u{2028}",
            "a long value that runs past sixteen bytes, twice over, and then some",
        ];
        samples[i % samples.len()].to_string()
    }

    fn map(n: usize) -> BTreeMap<String, String> {
        (0..n)
            .map(|i| (format!("{}{i}", awkward(i + 2)), awkward(i)))
            .collect()
    }

    /// Ours against serde_json: the same bytes, and so the same fields.
    fn same_as_serde<T: RecordJson + serde::Serialize>(record: &T) {
        let mut ours = Vec::new();
        record.write_json(&mut ours);
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            serde_json::to_string(record).unwrap()
        );
    }

    #[test]
    fn a_client_is_written_as_serde_json_writes_it() {
        same_as_serde(&Client::default());
        let mut c = Client {
            id: u64::MAX,
            number: 100_001,
            created_at: awkward(1),
            created_local: awkward(2),
            updated_at: awkward(3),
            profile: u32::MAX,
            handling_status: 4,
            lead_status: awkward(4),
            archived: true,
            contacts: vec![1, 22, 333],
            extension: map(4),
            ..Client::default()
        };
        let names: Vec<&str> = c.mapped_fields().iter().map(|(n, _)| *n).collect();
        for (i, name) in names.into_iter().enumerate() {
            *c.field_mut(name).unwrap() = awkward(i);
        }
        same_as_serde(&c);
    }

    #[test]
    fn an_inbox_lead_is_written_as_serde_json_writes_it() {
        same_as_serde(&InboxLead::default());
        same_as_serde(&InboxLead {
            id: 7,
            created_at: awkward(1),
            profile: 3,
            datum: awkward(2),
            datum_do: awkward(3),
            email: awkward(4),
            phone: awkward(1),
            site: awkward(2),
            company: awkward(3),
            city: awkward(4),
            country: awkward(2),
            content: awkward(2),
            clid: 9,
            client: awkward(3),
            pid: 10,
            person: awkward(4),
            did: 11,
            deal: awkward(1),
            user: 12,
            user_name: awkward(2),
            status: 2,
            status_name: awkward(3),
            rezult: 255,
            rezult_name: awkward(4),
            clientpath: u64::MAX,
            clientpath_name: awkward(1),
        });
    }

    #[test]
    fn a_relationship_is_written_as_serde_json_writes_it() {
        same_as_serde(&Relationship::default());
        same_as_serde(&Relationship {
            id: 1,
            client: 2,
            created_at: awkward(1),
            profile: 3,
            kind: awkward(2),
            task: true,
            note: awkward(3),
            data: map(7),
        });
    }

    #[test]
    fn an_automation_entry_is_written_as_serde_json_writes_it() {
        same_as_serde(&AutomationEntry::default());
        same_as_serde(&AutomationEntry {
            id: 5,
            created_at: awkward(4),
            profile: 6,
            client: 7,
            fields: map(3),
        });
    }
}
