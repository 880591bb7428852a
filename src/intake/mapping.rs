//! SPEC §4 steps 2–3: posted fields copied into a new client, a contact
//! person and an extension record by the profile's rows, mandatory fields
//! checked table by table (clients, contacts, extension), and whatever no row
//! maps collected for the automation log.

use std::collections::BTreeMap;

use crate::config::{FieldRow, Profile, Table};
use crate::http::body::Fields;
use crate::vocab::records::{Client, Contact, Ticket};

/// The outcome of mapping one post.
#[derive(Debug, Clone, Default)]
pub struct Mapped {
    pub client: Client,
    pub contact: Option<Contact>,
    /// The ticket, for `service_ticket` profiles.
    pub ticket: Ticket,
    /// Posted fields no row took (name as sent → value).
    pub extras: BTreeMap<String, String>,
}

/// A mandatory row without a value: answer 007.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingField {
    pub external: String,
}

const TABLE_ORDER: [Table; 4] = [
    Table::Clients,
    Table::Contacts,
    Table::Extension,
    Table::Tickets,
];

/// Every posted field (name as sent → value): built only for a post that
/// gets stored, not for the 006 / 007 / 008 ones a flood is made of.
pub fn posted(fields: &Fields) -> BTreeMap<String, String> {
    fields
        .iter()
        .map(|f| (f.name.to_string(), f.value.to_string()))
        .collect()
}

/// Maps `fields` through `profile`'s rows.
pub fn map(profile: &Profile, fields: &Fields) -> Result<Mapped, MissingField> {
    View::new(profile, fields).map(View::into_mapped)
}

/// A post read through a profile's rows without copying anything: the
/// mandatory check, the values the records would get, the unmapped fields.
/// Steps 2–7 run on it, so a post that becomes no record (a duplicate, a
/// refused language) never builds the owned records [`View::into_mapped`]
/// makes for one that is stored.
#[derive(Clone, Copy)]
pub struct View<'a> {
    profile: &'a Profile,
    fields: &'a Fields,
}

impl<'a> View<'a> {
    /// The post through `profile`, or the first mandatory row (in table
    /// order) without a value.
    pub fn new(profile: &'a Profile, fields: &'a Fields) -> Result<View<'a>, MissingField> {
        let view = View { profile, fields };
        for table in TABLE_ORDER {
            for row in profile.fields.iter().filter(|r| r.table == table) {
                if row.mandatory && view.row_value(row).is_empty() {
                    return Err(MissingField {
                        external: row.external.clone(),
                    });
                }
            }
        }
        Ok(view)
    }

    /// What a row puts in its field: the posted value, else its default.
    fn row_value(&self, row: &'a FieldRow) -> &'a str {
        let posted = if row.external.is_empty() {
            None
        } else {
            self.fields.get(&row.external)
        };
        match posted {
            Some(v) if !v.is_empty() => v,
            _ => row.default.as_str(),
        }
    }

    /// Whether a row's value is the one its field ends with: no later row
    /// of the same table and field has a value.
    fn last_with_value(&self, i: usize) -> bool {
        let row = &self.profile.fields[i];
        !self.profile.fields[i + 1..]
            .iter()
            .any(|r| r.table == row.table && r.field == row.field && !self.row_value(r).is_empty())
    }

    /// The value a client field ends with ("" when no row gives it one).
    pub fn client(&self, field: &str) -> &'a str {
        self.profile
            .fields
            .iter()
            .rev()
            .filter(|r| r.table == Table::Clients && r.field == field)
            .map(|r| self.row_value(r))
            .find(|v| !v.is_empty())
            .unwrap_or("")
    }

    /// Every value the client, its contact person's name and role, and its
    /// extension would be stored with (the language check, step 4).
    pub fn stored_values(&self) -> impl Iterator<Item = &'a str> + '_ {
        let rows = &self.profile.fields;
        rows.iter()
            .enumerate()
            .filter(|(_, r)| match r.table {
                Table::Clients => Client::is_field(&r.field),
                Table::Contacts => matches!(r.field.as_str(), "first_name" | "last_name" | "role"),
                Table::Extension => true,
                Table::Tickets => false,
            })
            .filter_map(move |(i, r)| {
                let v = self.row_value(r);
                (!v.is_empty() && self.last_with_value(i)).then_some(v)
            })
    }

    /// Posted fields no row takes (name as sent, value), in posted order.
    pub fn extras(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        let p = self.profile;
        self.fields
            .iter()
            .filter(move |f| {
                !(p.fields.iter().any(|r| r.external == f.key)
                    || (!p.external_key_field.is_empty() && p.external_key_field == f.key))
            })
            .map(|f| (f.name, f.value))
    }

    /// The owned records: the client, its contact person, the ticket, the
    /// extras.
    pub fn into_mapped(self) -> Mapped {
        let mut m = Mapped::default();
        let mut contact = Contact::default();
        for table in TABLE_ORDER {
            for row in self.profile.fields.iter().filter(|r| r.table == table) {
                let value = self.row_value(row);
                if value.is_empty() {
                    continue;
                }
                let slot = match table {
                    Table::Clients => m.client.field_mut(&row.field),
                    Table::Contacts => contact.field_mut(&row.field),
                    Table::Tickets => m.ticket.field_mut(&row.field),
                    Table::Extension => {
                        m.client
                            .extension
                            .insert(row.field.clone(), value.to_string());
                        continue;
                    }
                };
                if let Some(slot) = slot {
                    *slot = value.to_string();
                }
            }
        }
        if !contact.is_empty() {
            m.contact = Some(contact);
        }
        m.extras = self
            .extras()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// Profile 1 ("f") with these `[[profiles.fields]]` rows.
    fn profile_with(rows: &str) -> std::sync::Arc<Profile> {
        let head = "[intake]\nweb_branch = \"\"\n[[profiles]]\nnumber = 1\nform_name = \"f\"\n";
        let cfg = Config::from_toml(&format!("{head}{rows}")).unwrap();
        cfg.profiles[0].clone()
    }

    fn profile() -> std::sync::Arc<Profile> {
        profile_with(
            r#"
  [[profiles.fields]]
  external = "Phone"
  table = "clients"
  field = "phone1"
  mandatory = true
  [[profiles.fields]]
  external = "Src"
  table = "clients"
  field = "lead_supplier"
  default = "Web"
  [[profiles.fields]]
  external = ""
  table = "clients"
  field = "media"
  default = "Facebook"
  [[profiles.fields]]
  external = "Boss"
  table = "contacts"
  field = "first_name"
  [[profiles.fields]]
  external = "Budget"
  table = "extension"
  field = "budget"
  mandatory = true
"#,
        )
    }

    fn fields(q: &str) -> Fields {
        Fields::decode(q, None, b"").unwrap()
    }

    #[test]
    fn defaults_fixed_and_fallback() {
        let m = map(&profile(), &fields("phone=050&src=&budget=5")).unwrap();
        assert_eq!(m.client.phone1, "050");
        assert_eq!(
            m.client.lead_supplier, "Web",
            "fallback default on empty value"
        );
        assert_eq!(m.client.media, "Facebook", "fixed row");
        assert!(m.contact.is_none());
        assert_eq!(
            m.client.extension.get("budget").map(String::as_str),
            Some("5")
        );
    }

    #[test]
    fn mandatory_checked_in_table_order() {
        assert_eq!(
            map(&profile(), &fields("budget=1")).unwrap_err().external,
            "phone"
        );
        assert_eq!(
            map(&profile(), &fields("phone=1&budget="))
                .unwrap_err()
                .external,
            "budget"
        );
    }

    #[test]
    fn contact_and_extras() {
        let posted_fields = fields("Phone=1&Budget=2&boss=Ana&Color=red&utm=x");
        let m = map(&profile(), &posted_fields).unwrap();
        assert_eq!(m.contact.unwrap().first_name, "Ana");
        assert_eq!(m.extras.len(), 2);
        assert_eq!(m.extras.get("Color").map(String::as_str), Some("red"));
        assert_eq!(posted(&posted_fields).len(), 5);
    }

    #[test]
    fn the_view_gives_what_the_owned_mapping_stores() {
        let p = profile_with(
            r#"
  [[profiles.fields]]
  external = "Phone"
  table = "clients"
  field = "phone1"
  [[profiles.fields]]
  external = "Mobile"
  table = "clients"
  field = "phone1"
  [[profiles.fields]]
  external = "Mail"
  table = "clients"
  field = "email"
  [[profiles.fields]]
  external = "Boss"
  table = "contacts"
  field = "first_name"
  [[profiles.fields]]
  external = "BossPhone"
  table = "contacts"
  field = "phone"
  [[profiles.fields]]
  external = "Budget"
  table = "extension"
  field = "budget"
"#,
        );
        for q in [
            "Phone=1&Mobile=2&Mail=A@b.c&Boss=Ana&BossPhone=9&Budget=5&Color=red",
            "Phone=1&Mobile=&Mail=&Zeta=z&Alpha=a",
            "Mobile=2",
            "",
        ] {
            let posted = fields(q);
            let view = View::new(&p, &posted).unwrap();
            let m = view.into_mapped();
            assert_eq!(view.client("phone1"), m.client.phone1, "{q}");
            assert_eq!(view.client("email"), m.client.email, "{q}");
            let mut stored: Vec<&str> = view.stored_values().collect();
            let c = m.contact.clone().unwrap_or_default();
            let mut want: Vec<&str> = m
                .client
                .mapped_fields()
                .into_iter()
                .map(|(_, v)| v)
                .chain([c.first_name.as_str(), c.last_name.as_str(), c.role.as_str()])
                .chain(m.client.extension.values().map(String::as_str))
                .filter(|v| !v.is_empty())
                .collect();
            stored.sort_unstable();
            want.sort_unstable();
            assert_eq!(stored, want, "{q}");
            let extras: BTreeMap<String, String> = view
                .extras()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(extras, m.extras, "{q}");
        }
    }
}
