//! SPEC §4 steps 2–3: posted fields copied into a new client, a contact
//! person and an extension record by the profile's rows, mandatory fields
//! checked table by table (clients, contacts, extension), and whatever no row
//! maps collected for the automation log.

use std::collections::BTreeMap;

use crate::config::{Profile, Table};
use crate::http::body::Fields;
use crate::store::records::{Client, Contact, Ticket};

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
    let mut m = Mapped::default();
    let mut contact = Contact::default();
    for table in TABLE_ORDER {
        for row in profile.fields.iter().filter(|r| r.table == table) {
            let posted = if row.external.is_empty() {
                None
            } else {
                fields.get(&row.external)
            };
            let value = match posted {
                Some(v) if !v.is_empty() => v,
                _ => row.default.as_str(),
            };
            if row.mandatory && value.is_empty() {
                return Err(MissingField {
                    external: row.external.clone(),
                });
            }
            if value.is_empty() {
                continue;
            }
            match table {
                Table::Clients => {
                    if let Some(slot) = m.client.field_mut(&row.field) {
                        *slot = value.to_string();
                    }
                }
                Table::Contacts => {
                    if let Some(slot) = contact.field_mut(&row.field) {
                        *slot = value.to_string();
                    }
                }
                Table::Extension => {
                    m.client
                        .extension
                        .insert(row.field.clone(), value.to_string());
                }
                Table::Tickets => {
                    if let Some(slot) = m.ticket.field_mut(&row.field) {
                        *slot = value.to_string();
                    }
                }
            }
        }
    }
    if !contact.is_empty() {
        m.contact = Some(contact);
    }
    for f in fields.iter() {
        let mapped = profile.fields.iter().any(|r| r.external == f.key)
            || (!profile.external_key_field.is_empty() && profile.external_key_field == f.key);
        if !mapped {
            m.extras.insert(f.name.to_string(), f.value.to_string());
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn profile() -> std::sync::Arc<Profile> {
        let cfg = Config::from_toml(
            r#"
[intake]
web_branch = ""
[[profiles]]
number = 1
form_name = "f"
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
        .unwrap();
        cfg.profiles[0].clone()
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
}
