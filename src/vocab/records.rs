//! The records dataport keeps, as they are stored (JSON values in LMDB) and
//! shown by the admin API: field names of SPEC §2 plus `id`, `created_at`,
//! `handling_status`, `lead_status`, `archived`, `profile`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Handling status of a client (SPEC §4).
pub const STATUS_NEW_LEAD: u8 = 1;
pub const STATUS_MARKETING: u8 = 2;
pub const STATUS_NOT_INTERESTED: u8 = 3;
pub const STATUS_CLIENT: u8 = 4;

macro_rules! client_fields {
    ($($f:ident),* $(,)?) => {
        /// A client (lead or customer), active or archived.
        #[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
        #[serde(default)]
        pub struct Client {
            pub id: u64,
            /// Client number (sequence; from `high_range_start` when set).
            pub number: u64,
            pub created_at: String,
            pub created_local: String,
            pub updated_at: String,
            pub profile: u32,
            pub handling_status: u8,
            pub lead_status: String,
            pub archived: bool,
            $(pub $f: String,)*
            /// Cluster mode: the earlier client of the same person, made on
            /// another node while NATS was unreachable (0: none). Shown
            /// only when set.
            #[serde(skip_serializing_if = "is_zero")]
            pub possible_duplicate_of: u64,
            /// Ids of the client's contact persons, oldest first.
            pub contacts: Vec<u64>,
            /// The free-form extension record attached to the client.
            pub extension: BTreeMap<String, String>,
        }

        impl Client {
            /// A mapped `clients` field by its SPEC name.
            pub fn field_mut(&mut self, name: &str) -> Option<&mut String> {
                match name {
                    $(stringify!($f) => Some(&mut self.$f),)*
                    _ => None,
                }
            }
            pub fn field(&self, name: &str) -> Option<&str> {
                match name {
                    $(stringify!($f) => Some(&self.$f),)*
                    _ => None,
                }
            }
            /// Hands every mapped field to `f` as its JSON member name
            /// (`"name":`) and value, in the order they are declared and
            /// serialized in (`record_json.rs` writes clients with it).
            pub(crate) fn for_each_mapped_member(&self, mut f: impl FnMut(&'static str, &str)) {
                $(f(concat!("\"", stringify!($f), "\":"), &self.$f);)*
            }
            /// Every mapped field with its value, in SPEC order.
            pub fn mapped_fields(&self) -> Vec<(&'static str, &str)> {
                vec![$((stringify!($f), self.$f.as_str()),)*]
            }
            /// Whether a profile row can map into `name`.
            pub fn is_field(name: &str) -> bool {
                matches!(name, $(stringify!($f))|*)
            }
        }
    };
}

client_fields!(
    first_name,
    last_name,
    full_name,
    company,
    phone1,
    phone2,
    phone3,
    email,
    lead_supplier,
    media,
    salesperson,
    branch,
    city,
    country,
    address,
    notes,
    external_key,
    utm_source,
    utm_medium,
    utm_campaign,
    utm_term,
    utm_content,
);

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Client {
    pub fn phones(&self) -> [&str; 3] {
        [&self.phone1, &self.phone2, &self.phone3]
    }
    pub fn display_name(&self) -> String {
        if !self.full_name.is_empty() {
            return self.full_name.clone();
        }
        let (first, last) = (self.first_name.trim(), self.last_name.trim());
        let mut name = String::with_capacity(first.len() + last.len() + 1);
        name.push_str(first);
        if !first.is_empty() && !last.is_empty() {
            name.push(' ');
        }
        name.push_str(last);
        name
    }
}

/// A contact person of a client.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Contact {
    pub id: u64,
    pub client: u64,
    pub created_at: String,
    pub profile: u32,
    pub first_name: String,
    pub last_name: String,
    pub phone: String,
    pub email: String,
    pub role: String,
}

impl Contact {
    pub fn field_mut(&mut self, name: &str) -> Option<&mut String> {
        Some(match name {
            "first_name" => &mut self.first_name,
            "last_name" => &mut self.last_name,
            "phone" => &mut self.phone,
            "email" => &mut self.email,
            "role" => &mut self.role,
            _ => return None,
        })
    }
    pub fn is_empty(&self) -> bool {
        [
            &self.first_name,
            &self.last_name,
            &self.phone,
            &self.email,
            &self.role,
        ]
        .iter()
        .all(|v| v.is_empty())
    }
}

/// Kinds of relationship (CRM history) records.
pub const REL_NEW_WEB_LEAD: &str = "new web lead";
pub const REL_REPEAT_INQUIRY: &str = "repeat web inquiry";
pub const REL_NOTE: &str = "note";
pub const REL_CALLBACK: &str = "call-back task";
pub const REL_ALERT_TASK: &str = "alert task";
pub const RENEWAL_NOTE: &str = "Lead renewed following a web inquiry";

/// A relationship record: the client's history, opportunities and call-back tasks.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Relationship {
    pub id: u64,
    pub client: u64,
    pub created_at: String,
    pub profile: u32,
    pub kind: String,
    /// An open opportunity / call-back task for the sales team.
    pub task: bool,
    pub note: String,
    /// What was posted, as far as it was mapped.
    pub data: BTreeMap<String, String>,
}

/// A post kept aside: rejected (008), a HOT-lead backup, or a client record
/// replaced by a renewal.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct BadLead {
    pub id: u64,
    pub created_at: String,
    pub profile: u32,
    pub reason: String,
    pub client: u64,
    pub data: serde_json::Value,
}

/// One request as it arrived, whole.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct UsageEntry {
    pub id: u64,
    pub created_at: String,
    /// The socket's peer.
    pub ip: String,
    /// The client as the rate limiter saw it: the peer, or behind a
    /// trusted proxy the address its forwarding header names.
    pub client_ip: String,
    pub method: String,
    pub form: String,
    pub query: String,
    pub content_type: String,
    pub user_agent: String,
    /// The body: UTF-8 text as is, anything else base64 (`body_base64`).
    pub body: String,
    pub body_base64: bool,
    /// The phones (normal digits) and email (lower-cased) the intake read
    /// in the post: what `?q=` finds it by. Shown only when there are any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub carried: Vec<String>,
    /// How it was answered: the HTTP status (200 for an intake code;
    /// 0 when unknown) ...
    pub status: u16,
    /// ... its intake code ("" for an answer without one) ...
    pub code: String,
    /// ... the answer's message or why it was refused ...
    pub reason: String,
    /// ... and the record a 000/001/002 names.
    pub record_id: u64,
}

/// Posted fields no mapping row took, kept so nothing sent is lost.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct AutomationEntry {
    pub id: u64,
    pub created_at: String,
    pub profile: u32,
    /// The client the post became, 0 when it became none (e.g. a duplicate).
    pub client: u64,
    pub fields: BTreeMap<String, String>,
}

/// A lead in the CRM inbox (SPEC §7).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct InboxLead {
    pub id: u64,
    pub created_at: String,
    pub profile: u32,
    pub datum: String,
    pub datum_do: String,
    pub email: String,
    pub phone: String,
    pub site: String,
    pub company: String,
    pub city: String,
    pub country: String,
    pub content: String,
    pub clid: u64,
    pub client: String,
    pub pid: u64,
    pub person: String,
    pub did: u64,
    pub deal: String,
    pub user: u64,
    #[serde(rename = "userName")]
    pub user_name: String,
    pub status: u8,
    #[serde(rename = "statusName")]
    pub status_name: String,
    pub rezult: u8,
    #[serde(rename = "rezultName")]
    pub rezult_name: String,
    pub clientpath: u64,
    #[serde(rename = "clientpathName")]
    pub clientpath_name: String,
}

/// Where a service ticket came from.
pub const SOURCE_PUBLIC_WEBSITE: u8 = 1;

macro_rules! ticket_fields {
    ($($f:ident),* $(,)?) => {
        /// A customer-service ticket (SPEC §5).
        #[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
        #[serde(default)]
        pub struct Ticket {
            pub id: u64,
            pub created_at: String,
            pub updated_at: String,
            pub profile: u32,
            /// 1 = public website.
            pub source: u8,
            pub status: String,
            $(pub $f: String,)*
        }

        impl Ticket {
            pub fn field_mut(&mut self, name: &str) -> Option<&mut String> {
                match name {
                    $(stringify!($f) => Some(&mut self.$f),)*
                    _ => None,
                }
            }
            pub fn mapped_fields(&self) -> Vec<(&'static str, &str)> {
                vec![$((stringify!($f), self.$f.as_str()),)*]
            }
        }
    };
}

ticket_fields!(
    complainer_name,
    return_phone,
    return_email,
    subject,
    details,
    category,
    external_key
);

/// One notification, stored before it is sent (SPEC §6).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct OutboxItem {
    pub id: u64,
    pub created_at: String,
    pub event: String,
    /// email | sms | webhook | http_post
    pub channel: String,
    pub to: String,
    pub subject: String,
    pub body: String,
    /// The record it is about, e.g. `clients/12`.
    pub record: String,
    /// pending | sent | failed
    pub status: String,
    pub attempts: u32,
    /// When the next try is due (ms since the epoch); 0 once final.
    pub next_attempt_ms: u64,
    pub last_error: String,
    pub finished_at: String,
}

/// One try at sending a delivery.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct DeliveryAttempt {
    pub at: String,
    /// sent | retry | failed
    pub status: String,
    /// HTTP status, 0 when there was no answer.
    pub code: u16,
    /// The first bytes of the answer, or the error.
    pub response: String,
}

/// A buyer's feedback on a delivered lead.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Feedback {
    pub reason_id: u64,
    pub comment: String,
    pub at: String,
}

/// A lead forwarded to a buyer under a rule (SPEC §8).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct DeliveryRecord {
    pub id: u64,
    pub routing_id: String,
    pub buyer: u64,
    pub rule: u64,
    pub client: u64,
    pub profile: u32,
    pub created_at: String,
    /// When the buyer accepted it (first 2xx), else empty.
    pub delivered_at: String,
    pub method: String,
    pub url: String,
    pub routing_id_param: String,
    pub timeout_ms: u64,
    /// Their parameter -> value, as sent (the routing id comes on top).
    pub params: Vec<(String, String)>,
    /// Our field -> value of what was delivered (OData shows these).
    pub lead: BTreeMap<String, String>,
    /// pending | sent | failed
    pub status: String,
    pub attempts: Vec<DeliveryAttempt>,
    pub feedback: Option<Feedback>,
    pub feedback_history: Vec<Feedback>,
}
