//! The loader: every rule of SPEC §2 checked over the raw configuration,
//! each violation reported with its location, into the typed [`Config`].

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use super::raw::RawConfig;
use super::*;

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
    let listen = server(&raw, &mut errors);
    let scripts = intake(&raw, &mut errors);
    let (branches, branch_ids, web_tz) = branches(&raw, &mut errors);
    let users = users(&raw, &branch_ids, &mut errors);
    let (profiles, by_form) = profiles::check(&raw, &branch_ids, previous, &mut errors);
    integrations::validate(&raw, &mut errors);
    let trusted_proxies = trusted_proxies(&raw, &mut errors);
    if let Some(c) = &raw.cluster {
        cluster(c, &mut errors);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Config {
        static_frame_ancestors: static_frame_ancestors(&profiles),
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

/// `[cluster]`: a node id, where NATS is, and what to do without it.
fn cluster(c: &super::raw::ClusterSection, errors: &mut Vec<ConfigError>) {
    if !(1..=1023).contains(&c.node_id) {
        err(
            errors,
            "cluster.node_id",
            "must be between 1 and 1023, unique per appliance",
        );
    }
    if c.nats_urls.is_empty() {
        err(
            errors,
            "cluster.nats_urls",
            "at least one NATS server URL is needed",
        );
    }
    for url in &c.nats_urls {
        let rest = url
            .strip_prefix("nats://")
            .or_else(|| url.strip_prefix("tls://"))
            .unwrap_or(url);
        let port_ok = rest.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if !port_ok {
            err(
                errors,
                "cluster.nats_urls",
                format!("{url:?} is not nats://host:port"),
            );
        }
    }
    if !(1..=5).contains(&c.replicas) {
        err(
            errors,
            "cluster.replicas",
            "must be between 1 and 5 (JetStream's limit)",
        );
    }
    if !matches!(c.on_unreachable.as_str(), "accept" | "refuse") {
        err(
            errors,
            "cluster.on_unreachable",
            format!("{:?}: must be \"accept\" or \"refuse\"", c.on_unreachable),
        );
    }
    if c.timeout_ms == 0 {
        err(errors, "cluster.timeout_ms", "must be > 0");
    }
}

/// `[server]`, `[admin]` and `[storage]`: the address to listen on.
fn server(raw: &RawConfig, errors: &mut Vec<ConfigError>) -> SocketAddr {
    let listen = match raw.server.listen.parse::<SocketAddr>() {
        Ok(a) => a,
        Err(_) => {
            err(
                errors,
                "server.listen",
                format!("{:?} is not an address:port", raw.server.listen),
            );
            SocketAddr::from(([127, 0, 0, 1], 8080))
        }
    };
    if let Some(why) = admin_token_weakness(&raw.admin.token, listen) {
        err(errors, "admin.token", why);
    }
    if raw.admin.max_scan == 0 {
        err(errors, "admin.max_scan", "must be > 0");
    }
    if raw.server.max_body_bytes == 0 {
        err(errors, "server.max_body_bytes", "must be > 0");
    }
    if raw.server.max_header_bytes < 256 {
        err(errors, "server.max_header_bytes", "must be at least 256");
    }
    if raw.server.max_headers == 0 || raw.server.max_headers > 256 {
        err(errors, "server.max_headers", "must be between 1 and 256");
    }
    if raw.server.max_fields == 0 {
        err(errors, "server.max_fields", "must be > 0");
    }
    if raw.server.max_connections == 0 {
        err(errors, "server.max_connections", "must be > 0");
    }
    if raw.storage.map_size_mb == 0 {
        err(errors, "storage.map_size_mb", "must be > 0");
    }
    if raw.storage.max_batch == 0 || raw.storage.write_queue == 0 {
        err(errors, "storage", "max_batch and write_queue must be > 0");
    }
    listen
}

/// `[intake]`: the scripts of the language check.
fn intake(raw: &RawConfig, errors: &mut Vec<ConfigError>) -> Vec<unicode_script::Script> {
    if phonenumber::metadata::DATABASE
        .by_id(&raw.intake.default_country.to_ascii_uppercase())
        .is_none()
    {
        err(
            errors,
            "intake.default_country",
            format!(
                "{:?} is not a known ISO 3166 country code",
                raw.intake.default_country
            ),
        );
    }

    if raw.intake.phone_pattern_cache < 100 {
        err(
            errors,
            "intake.phone_pattern_cache",
            "must be at least 100 (the phone library's own size)",
        );
    }
    if let Err(e) = crate::dns::parse_servers(&raw.intake.dns_servers) {
        err(errors, "intake.dns_servers", e.to_string());
    }
    if raw.intake.dns_timeout_ms == 0 || raw.intake.dns_timeout_ms > 30_000 {
        err(
            errors,
            "intake.dns_timeout_ms",
            "must be between 1 and 30000",
        );
    }
    let mut scripts = Vec::new();
    for name in &raw.intake.acceptable_scripts {
        match crate::vocab::language::parse_script(name) {
            Some(s) => scripts.push(s),
            None => err(
                errors,
                "intake.acceptable_scripts",
                format!("{name:?} is not a Unicode script name (e.g. \"Latin\", \"Hebrew\", \"Cyrillic\")"),
            ),
        }
    }

    scripts
}

/// `[[branches]]` and the web branch's time zone.
fn branches(
    raw: &RawConfig,
    errors: &mut Vec<ConfigError>,
) -> (Vec<Branch>, HashSet<String>, chrono_tz::Tz) {
    let mut branches = Vec::new();
    let mut branch_ids = HashSet::new();
    for (i, b) in raw.branches.iter().enumerate() {
        let loc = format!("branches[{}] ({})", i + 1, b.id);
        if parse_branch_circle(&format!(";{};", b.id)).is_none() {
            err(
                errors,
                &loc,
                "branch id must be \"A\" followed by the branch number (A1, A2, ...)",
            );
        }
        if !branch_ids.insert(b.id.clone()) {
            err(errors, &loc, "duplicate branch id");
        }
        let tz = if b.timezone.is_empty() {
            chrono_tz::UTC
        } else {
            match b.timezone.parse::<chrono_tz::Tz>() {
                Ok(tz) => tz,
                Err(_) => {
                    err(errors, &loc, format!("unknown time zone {:?}", b.timezone));
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
                    errors,
                    "intake.web_branch",
                    format!("no branch {:?} is defined", raw.intake.web_branch),
                );
                chrono_tz::UTC
            }
        }
    };

    (branches, branch_ids, web_tz)
}

/// `[[users]]`.
fn users(
    raw: &RawConfig,
    branch_ids: &HashSet<String>,
    errors: &mut Vec<ConfigError>,
) -> Vec<User> {
    let mut users = Vec::new();
    let mut logins = HashSet::new();
    for (i, u) in raw.users.iter().enumerate() {
        let loc = format!("users[{}] ({})", i + 1, u.login);
        if u.login.trim().is_empty() {
            err(errors, &loc, "login is empty");
        }
        if !logins.insert(u.login.to_ascii_lowercase()) {
            err(errors, &loc, "duplicate login");
        }
        if !u.branch.is_empty() && !branch_ids.contains(&u.branch) {
            err(
                errors,
                &loc,
                format!("branch {:?} is not defined", u.branch),
            );
        }
        let id = if u.id == 0 { i as u64 + 1 } else { u.id };
        if users.iter().any(|x: &User| x.id == id) {
            err(errors, &loc, format!("duplicate user id {id}"));
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

    users
}

/// `server.trusted_proxies`, parsed.
fn trusted_proxies(raw: &RawConfig, errors: &mut Vec<ConfigError>) -> Vec<std::net::IpAddr> {
    let mut trusted_proxies = Vec::new();
    for t in &raw.server.trusted_proxies {
        match t.parse() {
            Ok(ip) => trusted_proxies.push(ip),
            Err(_) => err(
                errors,
                "server.trusted_proxies",
                format!("{t:?} is not an IP address"),
            ),
        }
    }

    trusted_proxies
}

/// Who may frame the static pages: every origin a profile lets frame its
/// form, else `'none'`.
fn static_frame_ancestors(profiles: &[Arc<Profile>]) -> String {
    let mut origins: Vec<&String> = profiles
        .iter()
        .flat_map(|p| &p.form.frame_origins)
        .collect();
    origins.sort();
    origins.dedup();
    super::form::frame_ancestors(origins)
}
