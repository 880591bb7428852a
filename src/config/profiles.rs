//! The profiles section of the configuration (SPEC §2): every loader rule
//! of a profile and its mapping rows, checked into [`Profile`]s.

use std::collections::HashSet;
use std::sync::Arc;

use ahash::AHashMap;

use super::raw::{FieldSpec, ProfileSpec};
use super::*;

/// How errors name the profile at `index` (0-based) of the file.
pub(super) fn location(index: usize, p: &ProfileSpec) -> String {
    format!(
        "profile #{} ({:?}, entry {})",
        p.number,
        p.form_name,
        index + 1
    )
}

/// How errors name row `index` (0-based) of the profile at `ploc`.
pub(super) fn row_location(ploc: &str, index: usize, f: &FieldSpec) -> String {
    // A row without `table` maps into the main table: named by its field.
    let table = if f.table.trim().is_empty() {
        String::new()
    } else {
        format!("{}.", f.table)
    };
    format!(
        "{ploc} row {} ({:?} -> {table}{})",
        index + 1,
        f.external,
        f.field
    )
}

/// Checks every profile; errors go to `errors_out`. Profiles that
/// `previous` also has keep its counters.
pub(super) fn check(
    raw: &RawConfig,
    branch_ids: &HashSet<String>,
    previous: Option<&Config>,
    errors_out: &mut Vec<ConfigError>,
) -> (Vec<Arc<Profile>>, AHashMap<String, Arc<Profile>>) {
    let mut errors = std::mem::take(errors_out);
    let mut profiles = Vec::new();
    let mut by_form = AHashMap::new();
    let mut numbers = HashSet::new();
    let languages: Vec<&str> = raw
        .intake
        .acceptable_scripts
        .iter()
        .filter_map(|s| crate::vocab::language::parse_script(s))
        .map(|s| s.full_name())
        .collect();
    let language_answer: Arc<[u8]> = crate::codes::Code::language_json(&languages).into();
    for (pi, p) in raw.profiles.iter().enumerate() {
        let ploc = location(pi, p);
        if p.number == 0 {
            err(&mut errors, &ploc, "number must be a positive integer");
        } else if !numbers.insert(p.number) {
            err(&mut errors, &ploc, "duplicate profile number");
        }
        let form_lower = p.form_name.to_ascii_lowercase();
        check_form_name(p, &form_lower, &ploc, &by_form, &mut errors);
        let kind = match ProfileType::parse(&p.kind) {
            Some(k) => k,
            None => {
                err(&mut errors, &ploc, format!("unknown type {:?}", p.kind));
                ProfileType::ClientLead
            }
        };
        let form_mode = match p.form_mode.as_str() {
            "" | "none" => FormMode::None,
            "html_form" => FormMode::HtmlForm,
            "html_form_captcha" => FormMode::HtmlFormCaptcha,
            other => {
                err(&mut errors, &ploc, format!("unknown form_mode {other:?}"));
                FormMode::None
            }
        };
        let redirect_success = parse_redirect(&p.redirect_success).unwrap_or_else(|m| {
            err(&mut errors, format!("{ploc} redirect_success"), m);
            None
        });
        let redirect_error = parse_redirect(&p.redirect_error).unwrap_or_else(|m| {
            err(&mut errors, format!("{ploc} redirect_error"), m);
            None
        });
        let circle = circle(p, &ploc, branch_ids, &mut errors);
        if p.fields.is_empty() {
            err(&mut errors, &ploc, "a profile needs at least one field row");
        }
        check_form(p, &ploc, &mut errors);
        let rows = rows(p, kind, &ploc, &mut errors);
        let profile = Arc::new(Profile {
            number: p.number,
            form_name: p.form_name.clone(),
            kind,
            redirect_success,
            redirect_error,
            external_key_field: p.external_key_field.trim().to_lowercase(),
            circle_between_agencies: circle,
            parameter1: p.parameter1.clone(),
            form_mode,
            dialer_campaign: p.dialer_campaign.clone(),
            rate_limit_per_ip: if p.rate_limit_per_ip > 0 {
                p.rate_limit_per_ip
            } else {
                raw.server.rate_limit_per_ip
            },
            bot_fake_success: p.bot_fake_success,
            fields: rows,
            counters: previous
                .and_then(|c| c.profiles.iter().find(|old| old.number == p.number))
                .map(|old| old.counters.clone())
                .unwrap_or_default(),
            language_answer: language_answer.clone(),
            form: FormLook::new(
                &p.form_lang,
                &p.form_title,
                &p.form_submit,
                &p.form_frame_ancestors,
            ),
        });
        by_form.entry(form_lower).or_insert_with(|| profile.clone());
        profiles.push(profile);
    }
    *errors_out = errors;
    (profiles, by_form)
}

/// The profile's form name: present, a plain path segment, not reserved,
/// unique (case aside).
fn check_form_name(
    p: &ProfileSpec,
    form_lower: &str,
    ploc: &str,
    by_form: &AHashMap<String, Arc<Profile>>,
    errors: &mut Vec<ConfigError>,
) {
    if p.form_name.is_empty() {
        err(errors, ploc, "form_name is empty");
    } else if p.form_name.contains('.') {
        err(errors, ploc, "form_name must not contain '.'");
    } else if !p
        .form_name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        err(
            errors,
            ploc,
            "form_name may hold only letters, digits, '_' and '-'",
        );
    } else if RESERVED_SEGMENTS.contains(&form_lower) {
        err(
            errors,
            ploc,
            format!("form_name {:?} is a reserved path segment", p.form_name),
        );
    } else if by_form.contains_key(form_lower) {
        err(errors, ploc, "duplicate form_name");
    }
}

/// The profile's circle of branches, each one defined.
fn circle(
    p: &ProfileSpec,
    ploc: &str,
    branch_ids: &HashSet<String>,
    errors: &mut Vec<ConfigError>,
) -> Vec<String> {
    if p.circle_between_agencies.is_empty() {
        Vec::new()
    } else {
        match parse_branch_circle(&p.circle_between_agencies) {
            Some(list) => {
                for b in &list {
                    if !branch_ids.contains(b) {
                        err(
                            errors,
                            ploc,
                            format!(
                                "circle_between_agencies names branch {b} which is not defined"
                            ),
                        );
                    }
                }
                list
            }
            None => {
                err(
                    errors,
                    ploc,
                    format!(
                        "circle_between_agencies {:?} must look like \";A1;A3;\" (branch ids between semicolons)",
                        p.circle_between_agencies
                    ),
                );
                Vec::new()
            }
        }
    }
}

/// The mini form's settings: frame origins and language tag.
fn check_form(p: &ProfileSpec, ploc: &str, errors: &mut Vec<ConfigError>) {
    for o in &p.form_frame_ancestors {
        if !is_frame_origin(o) {
            err(
                errors,
                ploc,
                format!("form_frame_ancestors: {o:?} is not an origin like \"https://landing.example.com\" (scheme, host, optional port; no path)"),
            );
        }
    }
    if !p.form_lang.is_empty()
        && !p
            .form_lang
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        err(
            errors,
            ploc,
            format!(
                "form_lang {:?} is not a language tag like \"he\" or \"pt-BR\"",
                p.form_lang
            ),
        );
    }
}

/// The checked mapping rows of profile `p` (of type `kind`, named `ploc`).
fn rows(
    p: &ProfileSpec,
    kind: ProfileType,
    ploc: &str,
    errors: &mut Vec<ConfigError>,
) -> Vec<FieldRow> {
    p.fields
        .iter()
        .enumerate()
        .map(|(ri, f)| row(f, kind, (&row_location(ploc, ri, f), ri + 1), errors))
        .collect()
}

/// One mapping row, checked; `rloc` names it in errors, `n` is its
/// 1-based number (errors carry it and the column they belong to).
fn row(
    f: &FieldSpec,
    kind: ProfileType,
    (rloc, n): (&str, usize),
    errors: &mut Vec<ConfigError>,
) -> FieldRow {
    // Seed 000: "the default will always be the main table".
    let table_name = match (f.table.trim(), kind) {
        ("", ProfileType::ServiceTicket) => "tickets",
        ("", _) => "clients",
        (t, _) => t,
    };
    let table = match table_name {
        "clients" => Some(Table::Clients),
        "contacts" => Some(Table::Contacts),
        "extension" => Some(Table::Extension),
        "tickets" => Some(Table::Tickets),
        _ => None,
    };
    match table {
        None => row_err(
            errors,
            rloc,
            (n, "table"),
            format!("unknown table {:?}", f.table),
        ),
        Some(Table::Tickets) if kind != ProfileType::ServiceTicket => row_err(
            errors,
            rloc,
            (n, "table"),
            "table tickets is only for service_ticket profiles",
        ),
        Some(t) if t != Table::Tickets && kind == ProfileType::ServiceTicket => row_err(
            errors,
            rloc,
            (n, "table"),
            "a service_ticket profile maps only into tickets",
        ),
        Some(t) => {
            let known = match t {
                Table::Clients => CLIENT_FIELDS.contains(&f.field.as_str()),
                Table::Contacts => CONTACT_FIELDS.contains(&f.field.as_str()),
                Table::Tickets => TICKET_FIELDS.contains(&f.field.as_str()),
                Table::Extension => !f.field.trim().is_empty(),
            };
            if !known {
                row_err(
                    errors,
                    rloc,
                    (n, "field"),
                    format!("table {table_name} has no field {:?}", f.field),
                );
            }
        }
    }
    if f.mandatory && f.external.trim().is_empty() {
        row_err(
            errors,
            rloc,
            (n, "external"),
            "a mandatory row must name its posted field (external)",
        );
    }
    if f.external.trim().is_empty() && f.default.is_empty() {
        row_err(
            errors,
            rloc,
            (n, "default"),
            "a row without an external field must have a default",
        );
    }
    FieldRow {
        external: f.external.trim().to_lowercase(),
        table: table.unwrap_or(Table::Extension),
        field: f.field.clone(),
        default: f.default.clone(),
        mandatory: f.mandatory,
        label: f.label.trim().to_string(),
    }
}

/// `;A1;A3;` → `["A1", "A3"]`, or None when it does not match `^;(A[1-9][0-9]*;)+$`.
pub fn parse_branch_circle(s: &str) -> Option<Vec<String>> {
    // Seed 000 writes `;A1;A3;A4` and warns to end with `;`: either way.
    let s = s.trim();
    let s = s.strip_prefix(';').unwrap_or(s);
    let inner = s.strip_suffix(';').unwrap_or(s);
    if inner.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for part in inner.split(';') {
        let digits = part.strip_prefix('A')?;
        let mut chars = digits.chars();
        match chars.next() {
            Some('1'..='9') => {}
            _ => return None,
        }
        if !chars.all(|c| c.is_ascii_digit()) {
            return None;
        }
        out.push(part.to_string());
    }
    Some(out)
}

pub(super) fn parse_redirect(s: &str) -> Result<Option<Redirect>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.chars().any(|c| c.is_control() || c == ' ') {
        return Err("redirect target must not contain spaces or control characters".into());
    }
    let lower = s.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Ok(Some(Redirect::Absolute(s.to_string())));
    }
    if s.contains(':') || s.contains('/') || s.contains('\\') || s.starts_with('.') {
        return Err(format!(
            "redirect target {s:?} must be an absolute http(s) URL or a bare file name under http_dir"
        ));
    }
    Ok(Some(Redirect::Static(s.to_string())))
}
