//! Configuration: the operator's TOML file (`raw`) checked once into the
//! typed [`Config`] the rest of the appliance reads. Every rule of SPEC §2 is
//! enforced here, and every violation is reported with its location, so
//! `dataport check-config` can list them all at once.

mod form;
mod integrations;
pub mod overrides;
mod profiles;
pub mod raw;
pub mod unknown;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use ahash::AHashMap;

pub use form::{is_frame_origin, FormLook};
pub use profiles::parse_branch_circle;
#[cfg(test)]
use profiles::parse_redirect;
pub use raw::RawConfig;

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

/// Response counts per profile, by intake code 000..=010.
#[derive(Debug, Default)]
pub struct ProfileCounters {
    pub by_code: [AtomicU64; 11],
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
    });
}

/// The admin token the embedded configuration ships with.
pub const DEFAULT_ADMIN_TOKEN: &str = "change-me";
/// The shortest admin token accepted off loopback.
pub const MIN_ADMIN_TOKEN: usize = 32;

/// Why the admin token may not guard an API served on `listen`, if it may
/// not: off loopback the shipped default, or anything shorter than
/// [`MIN_ADMIN_TOKEN`], would open `/admin/v1` to whoever guesses it. An
/// empty token turns the API off and is always fine.
pub fn admin_token_weakness(token: &str, listen: SocketAddr) -> Option<String> {
    if token.is_empty() || listen.ip().is_loopback() {
        return None;
    }
    let what = if token == DEFAULT_ADMIN_TOKEN {
        format!("is the shipped default {DEFAULT_ADMIN_TOKEN:?}")
    } else if token.chars().count() < MIN_ADMIN_TOKEN {
        format!("is shorter than {MIN_ADMIN_TOKEN} characters")
    } else {
        return None;
    };
    Some(format!(
        "{what}, and the admin API would answer on {listen}, beyond loopback: \
         set a secret of at least {MIN_ADMIN_TOKEN} characters (`dataport gen-key` prints one), \
         an empty token to turn the admin API off, or listen on 127.0.0.1"
    ))
}

/// Checks a raw configuration against every loader rule of SPEC §2.
pub fn validate(raw: RawConfig) -> Result<Config, Vec<ConfigError>> {
    validate_with(raw, None)
}

/// As [`validate`]; profiles that `previous` also has keep its counters, so
/// a run-time change does not reset `/metrics`.
pub fn validate_with(
    mut raw: RawConfig,
    previous: Option<&Config>,
) -> Result<Config, Vec<ConfigError>> {
    let mut errors = Vec::new();
    // A circle written `;A1;A3` or `A1;A3` is kept as `;A1;A3;`.
    for p in &mut raw.profiles {
        if let Some(circle) = parse_branch_circle(&p.circle_between_agencies) {
            p.circle_between_agencies = format!(";{};", circle.join(";"));
        }
    }

    let listen = match raw.server.listen.parse::<SocketAddr>() {
        Ok(a) => a,
        Err(_) => {
            err(
                &mut errors,
                "server.listen",
                format!("{:?} is not an address:port", raw.server.listen),
            );
            SocketAddr::from(([127, 0, 0, 1], 8080))
        }
    };
    if let Some(why) = admin_token_weakness(&raw.admin.token, listen) {
        err(&mut errors, "admin.token", why);
    }
    if raw.server.max_body_bytes == 0 {
        err(&mut errors, "server.max_body_bytes", "must be > 0");
    }
    if raw.server.max_header_bytes < 256 {
        err(
            &mut errors,
            "server.max_header_bytes",
            "must be at least 256",
        );
    }
    if raw.server.max_headers == 0 || raw.server.max_headers > 256 {
        err(
            &mut errors,
            "server.max_headers",
            "must be between 1 and 256",
        );
    }
    if raw.server.max_fields == 0 {
        err(&mut errors, "server.max_fields", "must be > 0");
    }
    if raw.server.max_connections == 0 {
        err(&mut errors, "server.max_connections", "must be > 0");
    }
    if raw.storage.map_size_mb == 0 {
        err(&mut errors, "storage.map_size_mb", "must be > 0");
    }
    if raw.storage.max_batch == 0 || raw.storage.write_queue == 0 {
        err(
            &mut errors,
            "storage",
            "max_batch and write_queue must be > 0",
        );
    }
    if phonenumber::metadata::DATABASE
        .by_id(&raw.intake.default_country.to_ascii_uppercase())
        .is_none()
    {
        err(
            &mut errors,
            "intake.default_country",
            format!(
                "{:?} is not a known ISO 3166 country code",
                raw.intake.default_country
            ),
        );
    }

    if raw.intake.phone_pattern_cache < 100 {
        err(
            &mut errors,
            "intake.phone_pattern_cache",
            "must be at least 100 (the phone library's own size)",
        );
    }
    if let Err(e) = crate::dns::parse_servers(&raw.intake.dns_servers) {
        err(&mut errors, "intake.dns_servers", e.to_string());
    }
    if raw.intake.dns_timeout_ms == 0 || raw.intake.dns_timeout_ms > 30_000 {
        err(
            &mut errors,
            "intake.dns_timeout_ms",
            "must be between 1 and 30000",
        );
    }
    let mut scripts = Vec::new();
    for name in &raw.intake.acceptable_scripts {
        match crate::vocab::language::parse_script(name) {
            Some(s) => scripts.push(s),
            None => err(
                &mut errors,
                "intake.acceptable_scripts",
                format!("{name:?} is not a Unicode script name (e.g. \"Latin\", \"Hebrew\", \"Cyrillic\")"),
            ),
        }
    }

    // branches
    let mut branches = Vec::new();
    let mut branch_ids = HashSet::new();
    for (i, b) in raw.branches.iter().enumerate() {
        let loc = format!("branches[{}] ({})", i + 1, b.id);
        if parse_branch_circle(&format!(";{};", b.id)).is_none() {
            err(
                &mut errors,
                &loc,
                "branch id must be \"A\" followed by the branch number (A1, A2, ...)",
            );
        }
        if !branch_ids.insert(b.id.clone()) {
            err(&mut errors, &loc, "duplicate branch id");
        }
        let tz = if b.timezone.is_empty() {
            chrono_tz::UTC
        } else {
            match b.timezone.parse::<chrono_tz::Tz>() {
                Ok(tz) => tz,
                Err(_) => {
                    err(
                        &mut errors,
                        &loc,
                        format!("unknown time zone {:?}", b.timezone),
                    );
                    chrono_tz::UTC
                }
            }
        };
        branches.push(Branch {
            id: b.id.clone(),
            name: b.name.clone(),
            timezone: tz,
        });
    }
    let web_tz = if raw.intake.web_branch.is_empty() {
        chrono_tz::UTC
    } else {
        match branches.iter().find(|b| b.id == raw.intake.web_branch) {
            Some(b) => b.timezone,
            None => {
                err(
                    &mut errors,
                    "intake.web_branch",
                    format!("no branch {:?} is defined", raw.intake.web_branch),
                );
                chrono_tz::UTC
            }
        }
    };

    // users
    let mut users = Vec::new();
    let mut logins = HashSet::new();
    for (i, u) in raw.users.iter().enumerate() {
        let loc = format!("users[{}] ({})", i + 1, u.login);
        if u.login.trim().is_empty() {
            err(&mut errors, &loc, "login is empty");
        }
        if !logins.insert(u.login.to_ascii_lowercase()) {
            err(&mut errors, &loc, "duplicate login");
        }
        if !u.branch.is_empty() && !branch_ids.contains(&u.branch) {
            err(
                &mut errors,
                &loc,
                format!("branch {:?} is not defined", u.branch),
            );
        }
        let id = if u.id == 0 { i as u64 + 1 } else { u.id };
        if users.iter().any(|x: &User| x.id == id) {
            err(&mut errors, &loc, format!("duplicate user id {id}"));
        }
        users.push(User {
            id,
            login: u.login.clone(),
            name: u.name.clone(),
            email: u.email.clone(),
            branch: u.branch.clone(),
            active: u.active,
        });
    }

    let (profiles, by_form) = profiles::check(&raw, &branch_ids, previous, &mut errors);

    integrations::validate(&raw, &mut errors);
    let mut trusted_proxies = Vec::new();
    for t in &raw.server.trusted_proxies {
        match t.parse() {
            Ok(ip) => trusted_proxies.push(ip),
            Err(_) => err(
                &mut errors,
                "server.trusted_proxies",
                format!("{t:?} is not an IP address"),
            ),
        }
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    let mut origins: Vec<&str> = Vec::new();
    for p in &profiles {
        if p.form.frame_ancestors != "'none'" {
            for o in p.form.frame_ancestors.split(' ') {
                if !origins.contains(&o) {
                    origins.push(o);
                }
            }
        }
    }
    let static_frame_ancestors = if origins.is_empty() {
        "'none'".to_string()
    } else {
        origins.join(" ")
    };
    Ok(Config {
        static_frame_ancestors,
        listen,
        data_dir: PathBuf::from(&raw.server.data_dir),
        http_dir: PathBuf::from(&raw.server.http_dir),
        profiles,
        by_form,
        branches,
        users,
        web_tz,
        trusted_proxies,
        scripts,
        raw,
    })
}

#[cfg(test)]
mod tests;
