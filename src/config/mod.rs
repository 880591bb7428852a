//! Configuration: the operator's TOML file (`raw`) checked once into the
//! typed [`Config`] the rest of the appliance reads. Every rule of SPEC §2 is
//! enforced here, and every violation is reported with its location, so
//! `dataport check-config` can list them all at once.
//!
//! Floor: above `vocab` and `dns` (server-address parsing); below `store`,
//! `http`'s users and everything that reads a profile.

mod form;
mod integrations;
pub mod overrides;
mod profiles;
pub mod raw;
pub mod unknown;
mod validate;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ahash::AHashMap;

pub use form::{frame_ancestors, is_frame_origin, FormLook};
pub use profiles::parse_branch_circle;
#[cfg(test)]
use profiles::parse_redirect;
pub use raw::RawConfig;
pub use validate::{
    admin_token_weakness, validate, validate_with, DEFAULT_ADMIN_TOKEN, MIN_ADMIN_TOKEN,
};

/// The configuration compiled into the binary (`data/dataport.toml`).
pub const EMBEDDED_DEFAULT: &str = include_str!("../../data/dataport.toml");

/// First path segments a profile may not take as its form name.
pub const RESERVED_SEGMENTS: &[&str] = &[
    "admin",
    "developer",
    "odata",
    "forwarddialer",
    "metrics",
    "health",
    "static",
];

/// Fields of the `clients` table a mapping row may name (SPEC §2).
pub const CLIENT_FIELDS: &[&str] = &[
    "first_name",
    "last_name",
    "full_name",
    "company",
    "phone1",
    "phone2",
    "phone3",
    "email",
    "lead_supplier",
    "media",
    "salesperson",
    "branch",
    "city",
    "country",
    "address",
    "notes",
    "external_key",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
];
pub const CONTACT_FIELDS: &[&str] = &["first_name", "last_name", "phone", "email", "role"];
pub const TICKET_FIELDS: &[&str] = &[
    "complainer_name",
    "return_phone",
    "return_email",
    "subject",
    "details",
    "category",
    "external_key",
];

/// Alert events (SPEC §6).
pub const EVENTS: &[&str] = &[
    "WebApi_New_Client_Reg",
    "Real_Client_Try_Reg_Again",
    "WebApi_Public_Service_Ticket",
    "Buyer_Feedback",
    "Crm_Lead_Assigned",
    "Cluster_Possible_Duplicate",
];

pub(crate) fn is_http_url(s: &str) -> bool {
    let l = s.trim().to_ascii_lowercase();
    (l.starts_with("http://") || l.starts_with("https://"))
        && !s.chars().any(|c| c.is_control() || c == ' ')
}

/// One configuration error, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub location: String,
    pub message: String,
    /// The profile field row (1-based) the error belongs to, and the row's
    /// column (`external`, `table`, `field`, `default`), for the console to
    /// show it where it is.
    pub row: Option<usize>,
    pub column: Option<&'static str>,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileType {
    ClientLead,
    ClientLeadNoDedupe,
    ClientLeadTradingAccount,
    ServiceTicket,
}

impl ProfileType {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "client_lead" => ProfileType::ClientLead,
            "client_lead_no_dedupe" => ProfileType::ClientLeadNoDedupe,
            "client_lead_trading_account" => ProfileType::ClientLeadTradingAccount,
            "service_ticket" => ProfileType::ServiceTicket,
            _ => return None,
        })
    }
    pub fn is_client_lead(self) -> bool {
        self != ProfileType::ServiceTicket
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Clients,
    Contacts,
    Extension,
    Tickets,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormMode {
    None,
    HtmlForm,
    HtmlFormCaptcha,
}

/// Where a browser is sent after a post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redirect {
    /// An absolute http(s) URL.
    Absolute(String),
    /// A file under `http_dir`, served at `/static/{name}`.
    Static(String),
}

impl Redirect {
    pub fn location(&self) -> String {
        match self {
            Redirect::Absolute(u) => u.clone(),
            Redirect::Static(name) => format!("/static/{name}"),
        }
    }
}

/// One checked mapping row.
#[derive(Debug, Clone)]
pub struct FieldRow {
    /// The posted field name, lower-cased for case-insensitive matching; "" for a fixed row.
    pub external: String,
    pub table: Table,
    pub field: String,
    pub default: String,
    pub mandatory: bool,
    /// The mini form's label ("" = from the field's name).
    pub label: String,
}

/// Response counts per profile, by intake code 000..=010: since start, per
/// hour for the last [`HOURS_KEPT`] hours and per minute for the last
/// [`MINUTES_KEPT`] minutes (`GET /admin/v1/stats`, the console's chart).
#[derive(Debug)]
pub struct ProfileCounters {
    pub by_code: [AtomicU64; 11],
    hourly: TimeRing,
    minutely: TimeRing,
}

impl Default for ProfileCounters {
    fn default() -> Self {
        ProfileCounters {
            by_code: Default::default(),
            hourly: TimeRing::new(HOURS_KEPT, HOUR_MS),
            minutely: TimeRing::new(MINUTES_KEPT, MINUTE_MS),
        }
    }
}

/// Hours of per-hour answer counts each profile keeps, in memory.
pub const HOURS_KEPT: usize = 48;
/// Minutes of per-minute answer counts each profile keeps, in memory.
pub const MINUTES_KEPT: usize = 60;
const HOUR_MS: u64 = 3_600_000;
const MINUTE_MS: u64 = 60_000;

/// Counts by code in fixed time slots, the last `slots.len()` of them.
#[derive(Debug)]
struct TimeRing {
    slot_ms: u64,
    slots: Box<[SlotCounts]>,
}

/// One slot of a ring: which period it holds, and its counts.
#[derive(Debug, Default)]
struct SlotCounts {
    /// Periods since the epoch, + 1 (0: never used).
    period: AtomicU64,
    by_code: [AtomicU64; 11],
}

impl TimeRing {
    fn new(slots: usize, slot_ms: u64) -> TimeRing {
        TimeRing {
            slot_ms,
            slots: (0..slots).map(|_| SlotCounts::default()).collect(),
        }
    }

    /// Lock-free; a slot is taken over at the first answer of a new period
    /// (answers racing that first one may count in the period before).
    fn count(&self, code: usize, now_ms: u64) {
        let period = now_ms / self.slot_ms + 1;
        let slot = &self.slots[(period as usize) % self.slots.len()];
        if slot.period.load(Ordering::Acquire) != period {
            let was = slot.period.swap(period, Ordering::AcqRel);
            if was != period {
                for c in &slot.by_code {
                    c.store(0, Ordering::Relaxed);
                }
            }
        }
        slot.by_code[code].fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self, start_ms: u64) -> Option<[u64; 11]> {
        let period = start_ms / self.slot_ms + 1;
        let slot = &self.slots[(period as usize) % self.slots.len()];
        (slot.period.load(Ordering::Acquire) == period)
            .then(|| std::array::from_fn(|i| slot.by_code[i].load(Ordering::Relaxed)))
    }
}

impl ProfileCounters {
    /// Counts an answer with code index `code` (0..=10) made at `now_ms`.
    pub fn count(&self, code: usize, now_ms: u64) {
        self.by_code[code].fetch_add(1, Ordering::Relaxed);
        self.hourly.count(code, now_ms);
        self.minutely.count(code, now_ms);
    }

    /// The counts of the hour starting at `hour_start_ms`, if kept.
    pub fn hour(&self, hour_start_ms: u64) -> Option<[u64; 11]> {
        self.hourly.get(hour_start_ms)
    }

    /// The counts of the minute starting at `minute_start_ms`, if kept.
    pub fn minute(&self, minute_start_ms: u64) -> Option<[u64; 11]> {
        self.minutely.get(minute_start_ms)
    }
}

/// A checked intake profile.
#[derive(Debug)]
pub struct Profile {
    pub number: u32,
    pub form_name: String,
    pub kind: ProfileType,
    pub redirect_success: Option<Redirect>,
    pub redirect_error: Option<Redirect>,
    /// Lower-cased posted field name carrying the sender's record key.
    pub external_key_field: String,
    pub circle_between_agencies: Vec<String>,
    pub parameter1: String,
    pub form_mode: FormMode,
    pub dialer_campaign: String,
    /// Requests/s per client IP (the profile's, else the server's; 0 = off).
    pub rate_limit_per_ip: u32,
    pub bot_fake_success: bool,
    pub fields: Vec<FieldRow>,
    pub counters: Arc<ProfileCounters>,
    /// The 009 answer, naming `intake.acceptable_scripts` (seed 000).
    pub language_answer: Arc<[u8]>,
    pub form: FormLook,
}

#[derive(Debug, Clone)]
pub struct Branch {
    pub id: String,
    pub name: String,
    pub timezone: chrono_tz::Tz,
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: u64,
    pub login: String,
    pub name: String,
    pub email: String,
    pub branch: String,
    pub active: bool,
}

/// The validated configuration.
#[derive(Debug)]
pub struct Config {
    pub raw: RawConfig,
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub http_dir: PathBuf,
    pub profiles: Vec<Arc<Profile>>,
    /// Profiles by lower-cased form name.
    pub by_form: AHashMap<String, Arc<Profile>>,
    pub branches: Vec<Branch>,
    pub users: Vec<User>,
    /// Time zone of `intake.web_branch` (UTC when none is named).
    pub web_tz: chrono_tz::Tz,
    /// `server.trusted_proxies`, parsed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// `intake.acceptable_scripts`, parsed (empty = no language check).
    pub scripts: Vec<unicode_script::Script>,
    /// `frame-ancestors` of the static pages (a framed form's thank-you
    /// page): every profile's allowed origins, else `'none'`.
    pub static_frame_ancestors: String,
}

impl Config {
    /// Parses and validates TOML text; on failure every error found is returned.
    pub fn from_toml(text: &str) -> Result<Config, Vec<ConfigError>> {
        validate(unknown::parse_toml(text)?)
    }

    pub fn profile(&self, form_name: &str) -> Option<&Arc<Profile>> {
        if let Some(p) = self.by_form.get(form_name) {
            return Some(p);
        }
        if form_name.bytes().any(|b| b.is_ascii_uppercase()) {
            return self.by_form.get(&form_name.to_ascii_lowercase());
        }
        None
    }

    /// Every user as the inbox sees one.
    pub fn user_refs(&self) -> Vec<crate::vocab::UserRef> {
        self.users
            .iter()
            .map(|u| crate::vocab::UserRef {
                id: u.id,
                login: u.login.clone(),
                name: if u.name.is_empty() {
                    u.login.clone()
                } else {
                    u.name.clone()
                },
                email: u.email.clone(),
                active: u.active,
            })
            .collect()
    }

    pub fn active_user(&self, login: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.active && u.login.eq_ignore_ascii_case(login))
    }
}

pub(crate) fn err(
    errors: &mut Vec<ConfigError>,
    location: impl Into<String>,
    message: impl Into<String>,
) {
    errors.push(ConfigError {
        location: location.into(),
        message: message.into(),
        row: None,
        column: None,
    });
}

/// An error of one profile field row (1-based) and one of its columns.
pub(crate) fn row_err(
    errors: &mut Vec<ConfigError>,
    location: &str,
    at: (usize, &'static str),
    message: impl Into<String>,
) {
    errors.push(ConfigError {
        location: location.into(),
        message: message.into(),
        row: Some(at.0),
        column: Some(at.1),
    });
}

#[cfg(test)]
mod tests;
