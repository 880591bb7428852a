//! The configuration file as written by the operator: plain serde structs
//! with defaults, no validation (that is `config::validate`'s job).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct RawConfig {
    pub server: ServerSection,
    pub admin: AdminSection,
    pub intake: IntakeSection,
    pub logs: LogsSection,
    pub storage: StorageSection,
    pub branches: Vec<BranchSpec>,
    pub users: Vec<UserSpec>,
    pub profiles: Vec<ProfileSpec>,
    pub alerts: Vec<AlertSpec>,
    pub templates: std::collections::BTreeMap<String, TemplateSpec>,
    pub smtp: SmtpSection,
    pub sms: SmsSection,
    pub outbox: OutboxSection,
    pub crm: CrmSection,
    pub buyers: Vec<BuyerSpec>,
    pub rules: Vec<RuleSpec>,
    pub feedback_reasons: Vec<FeedbackReasonSpec>,
    pub dialer: DialerSection,
    /// The do-not-call list (SPEC §9).
    pub dnc: Vec<DncSpec>,
    /// Several appliances, one CRM (issue 22); absent: a single box.
    pub cluster: Option<ClusterSection>,
}

/// `[cluster]`: this appliance as one node of several, through NATS
/// JetStream. What JetStream holds is created at start, idempotently.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ClusterSection {
    /// 1..=1023, unique per appliance.
    pub node_id: u16,
    pub nats_urls: Vec<String>,
    /// JetStream replicas of the buckets and streams dataport creates.
    pub replicas: usize,
    /// NATS unreachable: "accept" (this node decides alone) or "refuse" (005).
    pub on_unreachable: String,
    /// How long a post waits for JetStream before NATS counts as unreachable.
    pub timeout_ms: u64,
}

impl Default for ClusterSection {
    fn default() -> Self {
        ClusterSection {
            node_id: 0,
            nats_urls: Vec::new(),
            replicas: 3,
            on_unreachable: "accept".into(),
            timeout_ms: 1000,
        }
    }
}

/// `[dialer]`: the auto-dialer API and its dispatcher (SPEC §9).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct DialerSection {
    /// Authenticates GetCampaignList.
    pub account_code: String,
    /// none | log | webhook
    pub backend: String,
    pub webhook_url: String,
    /// The account's time zone, for `IsDateLocal`.
    pub timezone: String,
    pub dispatch_interval_ms: u64,
    pub campaigns: Vec<CampaignSpec>,
    pub extensions: Vec<ExtensionSpec>,
}

impl Default for DialerSection {
    fn default() -> Self {
        DialerSection {
            account_code: String::new(),
            backend: "none".into(),
            webhook_url: String::new(),
            timezone: "Asia/Jerusalem".into(),
            dispatch_interval_ms: 1000,
            campaigns: Vec::new(),
            extensions: Vec::new(),
        }
    }
}

/// A dialer campaign.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct CampaignSpec {
    pub id: u64,
    pub name: String,
    /// The campaign's 32-character key for every method.
    pub code: String,
    /// agent ("dialer to agent", IsDynamic 1) | smart (IsDynamic 0)
    #[serde(rename = "type")]
    pub kind: String,
    pub enabled: bool,
    pub queue_for_monitoring: u64,
    pub queue_max_callers: u64,
    pub coefficient: u64,
}

impl Default for CampaignSpec {
    fn default() -> Self {
        CampaignSpec {
            id: 0,
            name: String::new(),
            code: String::new(),
            kind: "agent".into(),
            enabled: true,
            queue_for_monitoring: 0,
            queue_max_callers: 1,
            coefficient: 2,
        }
    }
}

/// An extension of the directory (a SIP member).
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct ExtensionSpec {
    pub member: String,
    pub display_name: String,
}

/// A number that must not be called.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct DncSpec {
    pub phone: String,
    pub note: String,
}

/// A lead buyer (SPEC §8).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct BuyerSpec {
    pub id: u64,
    pub name: String,
    /// Hex SHA-256 of the buyer's OData API key (the key itself is never stored).
    pub api_key_sha256: String,
    pub active: bool,
}

impl Default for BuyerSpec {
    fn default() -> Self {
        BuyerSpec {
            id: 0,
            name: String::new(),
            api_key_sha256: String::new(),
            active: true,
        }
    }
}

/// A delivery rule: which new leads go to a buyer, and how.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RuleSpec {
    pub id: u64,
    pub buyer: u64,
    pub active: bool,
    /// post_form | post_json | get
    pub method: String,
    pub url: String,
    pub routing_id_param: String,
    /// Filters (all optional): profile numbers, lead_supplier, utm_source, city.
    pub profiles: Vec<u32>,
    pub lead_supplier: String,
    pub utm_source: String,
    pub city: String,
    /// Deliveries per day (server time zone); 0 = no cap.
    pub daily_cap: u64,
    pub timeout_ms: u64,
    /// Our field -> their parameter.
    pub fields: std::collections::BTreeMap<String, String>,
}

impl Default for RuleSpec {
    fn default() -> Self {
        RuleSpec {
            id: 0,
            buyer: 0,
            active: true,
            method: "post_form".into(),
            url: String::new(),
            routing_id_param: String::new(),
            profiles: Vec::new(),
            lead_supplier: String::new(),
            utm_source: String::new(),
            city: String::new(),
            daily_cap: 0,
            timeout_ms: 5_000,
            fields: Default::default(),
        }
    }
}

/// A reason a buyer can give as feedback on a lead.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct FeedbackReasonSpec {
    pub id: u64,
    pub name: String,
}

/// The CRM leads API (SPEC §7).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct CrmSection {
    /// The instance key; empty = the API is off.
    pub api_key: String,
    /// The words of its answers: "ru", seed 003's (statusName, rezultName,
    /// the error texts), or "en".
    pub language: String,
}

impl Default for CrmSection {
    fn default() -> Self {
        CrmSection {
            api_key: String::new(),
            language: "ru".into(),
        }
    }
}

/// `[[alerts]]`: what happens on an event (SPEC §6).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct AlertSpec {
    pub event: String,
    /// email | sms | webhook | task
    pub action: String,
    /// An address, a phone number, a URL or a user login, by action.
    pub to: String,
}

/// `[templates.NAME]` with `{{field}}` placeholders.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct TemplateSpec {
    pub subject: String,
    pub body: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SmtpSection {
    pub host: String,
    pub port: u16,
    pub from: String,
    /// none | starttls | tls
    pub tls: String,
    pub user: String,
    pub password: String,
    pub timeout_ms: u64,
}

impl Default for SmtpSection {
    fn default() -> Self {
        SmtpSection {
            host: "127.0.0.1".into(),
            port: 25,
            from: "dataport@localhost".into(),
            tls: "none".into(),
            user: String::new(),
            password: String::new(),
            timeout_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SmsSection {
    /// HTTP gateway URL with `{{to}}` and `{{text}}` (URL-encoded when filled in).
    pub url: String,
    pub timeout_ms: u64,
}

impl Default for SmsSection {
    fn default() -> Self {
        SmsSection {
            url: String::new(),
            timeout_ms: 10_000,
        }
    }
}

/// The notification sender (SPEC §6).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct OutboxSection {
    /// Tries before a notification is marked failed.
    pub max_attempts: u32,
    /// Wait after the first failure; doubles each time, up to `max_backoff_ms`.
    pub backoff_ms: u64,
    pub max_backoff_ms: u64,
    /// Sender threads (each holds at most one peer connection at a time).
    pub senders: usize,
    /// Webhook / HTTP POST timeout.
    pub http_timeout_ms: u64,
}

impl Default for OutboxSection {
    fn default() -> Self {
        OutboxSection {
            max_attempts: 6,
            backoff_ms: 2_000,
            max_backoff_ms: 600_000,
            senders: 4,
            http_timeout_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ServerSection {
    pub listen: String,
    pub data_dir: String,
    pub workers: usize,
    /// Each worker thread bound to its own core (may's default).
    pub pin_workers: bool,
    pub max_body_bytes: usize,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    /// Distinct fields one post may carry (query and body together);
    /// more: HTTP 413.
    pub max_fields: usize,
    pub header_timeout_ms: u64,
    pub body_timeout_ms: u64,
    pub idle_timeout_ms: u64,
    pub max_connections: usize,
    pub rate_limit_per_ip: u32,
    pub trusted_proxies: Vec<String>,
    pub client_ip_header: String,
    pub http_dir: String,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            listen: "127.0.0.1:8080".into(),
            data_dir: "var".into(),
            workers: 0,
            pin_workers: true,
            max_body_bytes: 65536,
            max_header_bytes: 16384,
            max_headers: 64,
            max_fields: 256, // http::body::DEFAULT_MAX_FIELDS
            header_timeout_ms: 10_000,
            body_timeout_ms: 10_000,
            idle_timeout_ms: 30_000,
            max_connections: 20_000,
            rate_limit_per_ip: 0,
            trusted_proxies: Vec::new(),
            client_ip_header: "X-Forwarded-For".into(),
            http_dir: "data/http".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AdminSection {
    pub token: String,
    /// Records one admin list request may read for a filter no index
    /// serves, before it answers with what it found and a cursor.
    pub max_scan: usize,
}

impl Default for AdminSection {
    fn default() -> Self {
        AdminSection {
            token: String::new(),
            max_scan: 100_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct IntakeSection {
    pub acceptable_scripts: Vec<String>,
    pub default_country: String,
    pub dns_check: bool,
    pub dns_servers: Vec<String>,
    pub dns_timeout_ms: u64,
    pub high_range_start: u64,
    pub web_branch: String,
    /// Length of the duplicate-post window (SPEC §4 step 7: 3600 s).
    pub duplicate_window_secs: u64,
    /// Keys the in-memory duplicate window is sized for (twice as many
    /// 16-byte slots, a power of two); a key pushed out of it is answered
    /// from storage instead.
    pub duplicate_cache_entries: usize,
    /// Mini form with captcha: a post sooner than this after the page was served is a bot's (010).
    pub form_min_seconds: u64,
    /// Compiled patterns the phone library keeps (its own default is 100).
    pub phone_pattern_cache: usize,
}

impl Default for IntakeSection {
    fn default() -> Self {
        IntakeSection {
            acceptable_scripts: Vec::new(),
            default_country: "IL".into(),
            dns_check: true,
            dns_servers: Vec::new(),
            dns_timeout_ms: 800,
            high_range_start: 0,
            web_branch: "A1".into(),
            duplicate_window_secs: 3600,
            duplicate_cache_entries: 1 << 20,
            form_min_seconds: 3,
            phone_pattern_cache: 300,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LogsSection {
    pub usage_retention_days: u64,
    pub usage_max_bytes: u64,
}

impl Default for LogsSection {
    fn default() -> Self {
        LogsSection {
            usage_retention_days: 30,
            usage_max_bytes: 2 << 30,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct StorageSection {
    /// LMDB map size: the most the data file may grow to.
    pub map_size_mb: u64,
    /// Requests waiting for the writer beyond this are answered 005.
    pub write_queue: usize,
    /// Most jobs one commit carries.
    pub max_batch: usize,
    /// How long a batch holding only background entries (usage and
    /// automation log: no answer waits for them) may gather more before its
    /// commit. A job someone waits for commits at once, with everything
    /// gathered. 0 = commit at once.
    pub log_linger_ms: u64,
}

impl Default for StorageSection {
    fn default() -> Self {
        StorageSection {
            map_size_mb: 16 * 1024,
            write_queue: 65_536,
            max_batch: 4096,
            log_linger_ms: 20,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default, Serialize)]
#[serde(default)]
pub struct BranchSpec {
    pub id: String,
    pub name: String,
    pub timezone: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct UserSpec {
    /// Stable numeric id (the inbox's `user`); 0 = its 1-based position.
    pub id: u64,
    pub login: String,
    pub name: String,
    pub email: String,
    pub branch: String,
    pub active: bool,
}

impl Default for UserSpec {
    fn default() -> Self {
        UserSpec {
            id: 0,
            login: String::new(),
            name: String::new(),
            email: String::new(),
            branch: String::new(),
            active: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ProfileSpec {
    pub number: u32,
    pub form_name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub redirect_success: String,
    pub redirect_error: String,
    pub external_key_field: String,
    pub circle_between_agencies: String,
    pub parameter1: String,
    pub form_mode: String,
    pub dialer_campaign: String,
    /// Requests/s per client IP for this profile; 0 = `[server] rate_limit_per_ip`.
    pub rate_limit_per_ip: u32,
    /// Mini form: answer rate-limited and captcha-failing posts as if they
    /// succeeded (nothing stored), so bots learn nothing.
    pub bot_fake_success: bool,
    /// Mini form: origins allowed to show it in an iFrame (seed 000: "for
    /// HTML forms inside an iFrame"), e.g. `https://landing.example.com`;
    /// empty = none may.
    pub form_frame_ancestors: Vec<String>,
    /// Mini form: the page's language (`he`, `ru`, ...; right to left for
    /// Hebrew, Arabic, Persian, Urdu, Yiddish), title and submit text.
    pub form_lang: String,
    pub form_title: String,
    pub form_submit: String,
    pub fields: Vec<FieldSpec>,
}

impl Default for ProfileSpec {
    fn default() -> Self {
        ProfileSpec {
            number: 0,
            form_name: String::new(),
            kind: "client_lead".into(),
            redirect_success: String::new(),
            redirect_error: String::new(),
            external_key_field: String::new(),
            circle_between_agencies: String::new(),
            parameter1: String::new(),
            form_mode: "none".into(),
            dialer_campaign: String::new(),
            rate_limit_per_ip: 0,
            bot_fake_success: false,
            form_frame_ancestors: Vec::new(),
            form_lang: String::new(),
            form_title: String::new(),
            form_submit: String::new(),
            fields: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default, Serialize)]
#[serde(default)]
pub struct FieldSpec {
    pub external: String,
    pub table: String,
    pub field: String,
    pub default: String,
    pub mandatory: bool,
    /// Mini form: the field's label (default: from the field's name).
    pub label: String,
}
