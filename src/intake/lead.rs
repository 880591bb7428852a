//! The client-lead pipeline of SPEC §4, steps 2–11, as one named function
//! per step, read top to bottom by [`run`]. Steps 2–7 read the post in
//! place (`mapping::View`): a post that becomes no record (a flood's
//! duplicates) builds no owned records and, with its phones and email held
//! inline, allocates nothing. Steps 9–11 run on the writer thread
//! (`store::leads`), and the post is answered once they are committed.

use std::collections::BTreeMap;

use super::logs::{self, Logs};
use super::{mapping, submit_failed, window};
use crate::app::App;
use crate::clock;
use crate::codes::Code;
use crate::config::{Config, Profile, ProfileType};
use crate::dedupe;
use crate::http::body::Fields;
use crate::inline_str::InlineStr;
use crate::store::leads::LeadDraft;
use crate::store::writer::{Applied, Job};
use crate::store::DuplicateKey;
use crate::vocab::language;
use crate::vocab::normalize::{self, EMAIL_INLINE};
use crate::vocab::phone_cache::PhoneNormal;
use crate::vocab::records::{BadLead, Client};

/// One post on its way through the steps.
pub(super) struct Post<'a> {
    pub app: &'a App,
    pub logs: &'a Logs<'a>,
    pub cfg: &'a Config,
    pub profile: &'a Profile,
    pub fields: &'a Fields,
    pub now: u64,
    pub created_at: &'a str,
}

/// Steps 2–11 of a client lead: the code answered and the record it names.
pub(super) fn run(p: &Post<'_>) -> (Code, Option<u64>) {
    // 2–3. Mapping, mandatory fields, extra fields.
    let Ok(view) = mapping::View::new(p.profile, p.fields) else {
        return (Code::MissingRequired, None);
    };
    // 4. Language.
    if !language_ok(p.cfg, &view) {
        let code = p
            .logs
            .without_record(p.profile, p.created_at, view.extras(), Code::Language);
        return (code, None);
    }
    // 5. External key: a known key updates that client.
    let external_key = external_key(p);
    let sync_target = match known_client(p.app, external_key) {
        Ok(t) => t,
        Err(code) => return (code, None),
    };
    // 6. Contact validation (not for a sync of a known key).
    let contacts = Contacts::check(p.app, &view);
    p.logs.carry(
        contacts.normals.iter().map(|n| n.as_str()),
        contacts.email.as_str(),
    );
    if sync_target.is_none() {
        if let Some(failures) = contacts.unusable(p.app) {
            return bad_lead(p, &view, failures);
        }
    }
    // 7. The duplicate window (not when the sender keys its records).
    let duplicate_key = match duplicate_window(p, &contacts, external_key) {
        Ok(Some(window)) => window,
        Ok(None) => {
            let code =
                p.logs
                    .without_record(p.profile, p.created_at, view.extras(), Code::Duplicate);
            return (code, None);
        }
        Err(code) => return (code, None),
    };
    // 7b. Cluster mode: a person new to this node is claimed in the cluster.
    if sync_target.is_none() {
        if let Err(code) = claim_person(p, &contacts) {
            window::release(p.app, duplicate_key.as_ref().map(|k| (k.hash, k.at)));
            return (code, None);
        }
    }
    // 8. The record, with its normal forms and computed fields.
    let mut m = view.into_mapped();
    contacts.write_into(p.app, &mut m, external_key);
    let rotate = computed_fields(p, &mut m.client, sync_target.is_some());
    if let Some(ct) = m.contact.as_mut() {
        ct.created_at = m.client.created_at.clone();
        ct.profile = p.profile.number;
    }
    // 9–11 on the writer, acknowledged only once committed.
    let reserved = duplicate_key.as_ref().map(|k| (k.hash, k.at));
    let draft = draft(p, m, duplicate_key, external_key, rotate);
    submit(p.app, draft, reserved)
}

/// Step 4: every stored value is in an acceptable script (or there is no
/// list).
fn language_ok(cfg: &Config, view: &mapping::View<'_>) -> bool {
    cfg.scripts.is_empty()
        || view
            .stored_values()
            .all(|v| language::acceptable(&cfg.scripts, v))
}

/// Step 5: the posted external key, "" when the profile has none or the
/// post left it empty.
fn external_key<'f>(p: &Post<'f>) -> &'f str {
    if p.profile.external_key_field.is_empty() {
        ""
    } else {
        p.fields.get(&p.profile.external_key_field).unwrap_or("")
    }
}

/// Step 5: the client carrying `key`, if any.
fn known_client(app: &App, key: &str) -> Result<Option<u64>, Code> {
    if key.is_empty() {
        return Ok(None);
    }
    match app.store.clients_by_external_key(key) {
        Ok(ids) => Ok(ids.first().copied()),
        Err(_) => Err(Code::DatabaseError),
    }
}

const PHONES: [&str; 3] = ["phone1", "phone2", "phone3"];

/// Step 6: the post's phones and email in their normal forms, and which
/// phones are valid numbers. Held inline (filled in place, not with array
/// `map`s, which copied the inline strings around: ~2k instructions a post).
struct Contacts<'v> {
    raw: [&'v str; 3],
    normals: [PhoneNormal; 3],
    /// None: no number posted; Some(valid).
    checked: [Option<bool>; 3],
    email: InlineStr<EMAIL_INLINE>,
}

impl<'v> Contacts<'v> {
    fn check(app: &App, view: &mapping::View<'v>) -> Contacts<'v> {
        let mut c = Contacts {
            raw: [""; 3],
            normals: [
                PhoneNormal::default(),
                PhoneNormal::default(),
                PhoneNormal::default(),
            ],
            checked: [None; 3],
            email: normalize::email_inline(view.client("email")),
        };
        for (i, name) in PHONES.into_iter().enumerate() {
            c.raw[i] = view.client(name);
            if !c.raw[i].is_empty() {
                let (normal, plausible) = app.phones.check_inline(c.raw[i]);
                c.normals[i] = normal;
                c.checked[i] = Some(plausible);
            }
        }
        c
    }

    /// Why no phone and no email is usable (a bad lead, 008), or None.
    fn unusable(&self, app: &App) -> Option<String> {
        let mut usable = self.checked.iter().filter(|p| **p == Some(true)).count();
        let mut email_failure = None;
        if !self.email.is_empty() {
            let email = self.email.as_str();
            if normalize::email_syntax_ok(email) {
                let domain = email.rsplit('@').next().unwrap_or("");
                match app.domains.as_ref().map(|d| d.check(domain)) {
                    Some(crate::dns::Verdict::Missing) => {
                        email_failure = Some(format!("email domain {domain:?} does not exist"))
                    }
                    _ => usable += 1,
                }
            } else {
                email_failure = Some(format!("email {email:?} is not a valid address"));
            }
        }
        if usable > 0 {
            return None;
        }
        let mut failures: Vec<String> = PHONES
            .iter()
            .zip(&self.raw)
            .zip(&self.checked)
            .filter(|(_, plausible)| **plausible == Some(false))
            .map(|((name, raw), _)| format!("{name} {raw:?} is not a plausible phone number"))
            .chain(email_failure)
            .collect();
        if failures.is_empty() {
            failures.push("missing any phone or email".into());
        }
        Some(failures.join("; "))
    }

    /// The normal forms into the owned record (a phone valid nowhere is
    /// kept as sent), and the external key.
    fn write_into(self, app: &App, m: &mut mapping::Mapped, external_key: &str) {
        let c = &mut m.client;
        for ((slot, normal), checked) in [&mut c.phone1, &mut c.phone2, &mut c.phone3]
            .into_iter()
            .zip(self.normals)
            .zip(self.checked)
        {
            if checked.is_some() {
                *slot = normal.into_string();
            }
        }
        c.email = self.email.into_string();
        if !external_key.is_empty() {
            c.external_key = external_key.to_string();
        }
        if let Some(ct) = m.contact.as_mut() {
            ct.phone = app.phones.normalize(&ct.phone);
            normalize::email_in_place(&mut ct.email);
        }
    }
}

/// Step 6 refused the post: a bad lead with its reasons (008).
fn bad_lead(p: &Post<'_>, view: &mapping::View<'_>, reason: String) -> (Code, Option<u64>) {
    let bad = BadLead {
        created_at: p.created_at.to_string(),
        profile: p.profile.number,
        reason,
        data: serde_json::to_value(mapping::posted(p.fields)).unwrap_or_default(),
        ..BadLead::default()
    };
    let outcome = logs::answered(Code::NoContact, &bad.reason);
    if let Err(e) = p
        .logs
        .extras(p.profile, p.created_at, view.extras(), &outcome)
    {
        return (submit_failed(p.app, e), None);
    }
    match p.app.writer.call(|r| Job::BadLead(bad, r)) {
        Ok(Ok(_)) => (Code::NoContact, None),
        Ok(Err(_)) => (Code::DatabaseError, None),
        Err(e) => (submit_failed(p.app, e), None),
    }
}

/// Step 7: `Ok(Some(key))` reserved for this post (None inside when the
/// profile keeps no window or the post carries an external key, which
/// replaces the duplicate checks: seed 000, "the responsibility lies with
/// the external system"); `Ok(None)` for a duplicate.
fn duplicate_window(
    p: &Post<'_>,
    c: &Contacts<'_>,
    external_key: &str,
) -> Result<Option<Option<DuplicateKey>>, Code> {
    if p.profile.kind == ProfileType::ClientLeadNoDedupe || !external_key.is_empty() {
        return Ok(Some(None));
    }
    let [p1, p2, p3] = [
        c.normals[0].as_str(),
        c.normals[1].as_str(),
        c.normals[2].as_str(),
    ];
    let key = dedupe::key_hash(p.profile.number, &[p1, p2, p3, c.email.as_str()]);
    let anchor = DuplicateKey::anchor_of(&[p1, p2, p3], c.email.as_str());
    Ok(window::reserve(p.app, key, anchor, p.now)?.map(Some))
}

/// How long a post waits for the client another node claimed first to
/// arrive here before it makes its own (counted, never lost).
const CLAIM_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Step 7b, cluster mode (issue 22): one client per person in the cluster.
/// A person this node already has a client for is matched by the writer
/// (001) as on a single box. A new one is claimed through JetStream (its
/// phones and email, together) before the record is made: when another
/// node holds a claim, its client record is on its way through the stream,
/// and this post waits for it (parked, polling the local index), so the
/// writer then matches it: 001 with that node's client id.
fn claim_person(p: &Post<'_>, c: &Contacts<'_>) -> Result<(), Code> {
    let Some(cluster) = &p.app.cluster else {
        return Ok(());
    };
    let phones = [
        c.normals[0].as_str(),
        c.normals[1].as_str(),
        c.normals[2].as_str(),
    ];
    let email = c.email.as_str();
    let store = &p.app.store;
    let known = || {
        phones
            .iter()
            .filter(|ph| !ph.is_empty())
            .any(|ph| store.clients_by_phone(ph).is_ok_and(|ids| !ids.is_empty()))
            || (!email.is_empty()
                && store
                    .clients_by_email(email)
                    .is_ok_and(|ids| !ids.is_empty()))
    };
    if known() {
        return Ok(());
    }
    match cluster.claim_person(&phones, email) {
        crate::cluster::Claim::Won => Ok(()),
        crate::cluster::Claim::Unreachable if cluster.refuses() => Err(Code::TechnicalError),
        crate::cluster::Claim::Unreachable => Ok(()),
        crate::cluster::Claim::Lost => {
            let deadline = std::time::Instant::now() + CLAIM_WAIT;
            while !known() {
                if std::time::Instant::now() > deadline {
                    p.app
                        .metrics
                        .cluster_claim_waits_expired
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    break;
                }
                may::coroutine::sleep(std::time::Duration::from_millis(10));
            }
            Ok(())
        }
    }
}

/// Step 8: salesperson (an active user, who brings their branch), the
/// placeholder name, the times and the profile. Whether the lead rotates
/// through the profile's circle of branches.
fn computed_fields(p: &Post<'_>, c: &mut Client, sync: bool) -> bool {
    let posted_branch = !c.branch.is_empty();
    if !c.salesperson.is_empty() {
        match p.cfg.active_user(&c.salesperson) {
            Some(u) => {
                c.salesperson = u.login.clone();
                if !u.branch.is_empty() {
                    c.branch = u.branch.clone();
                }
            }
            // Not an active user: nobody is assigned.
            None => c.salesperson.clear(),
        }
    }
    if !sync && c.first_name.is_empty() && c.last_name.is_empty() && c.full_name.is_empty() {
        c.full_name = "No Name From Web".into();
    }
    c.created_at = p.created_at.to_string();
    c.created_local = clock::rfc3339_in(p.now, p.cfg.web_tz);
    c.profile = p.profile.number;
    !p.profile.circle_between_agencies.is_empty() && c.salesperson.is_empty() && !posted_branch
}

/// Steps 9–11's input: the record, what the writer matches it against,
/// and what it raises (deliveries, a dial-queue entry, the usage entry).
fn draft(
    p: &Post<'_>,
    m: mapping::Mapped,
    duplicate_key: Option<DuplicateKey>,
    external_key: &str,
    rotate: bool,
) -> LeadDraft {
    let (cfg, profile) = (p.cfg, p.profile);
    let owner = cfg.active_user(&m.client.salesperson);
    let posted = mapping::posted(p.fields);
    LeadDraft {
        usage: p.logs.for_record(),
        answers: super::ANSWERS,
        dialer: dial_entry(cfg, profile, &m.client, p.now),
        deliveries: matching_rules(cfg, profile.number, &m.client),
        profile: profile.number,
        form_name: profile.form_name.clone(),
        content: content_text(&posted),
        client: m.client,
        contact: m.contact,
        extras: m.extras,
        posted,
        duplicate_key,
        match_existing: profile.kind != ProfileType::ClientLeadNoDedupe && external_key.is_empty(),
        high_range_start: cfg.raw.intake.high_range_start,
        external_key: external_key.to_string(),
        at_ms: p.now,
        user_id: owner.map_or(0, |u| u.id),
        user_name: owner
            .map(|u| {
                if u.name.is_empty() {
                    u.login.clone()
                } else {
                    u.name.clone()
                }
            })
            .unwrap_or_default(),
        trading_url: if profile.kind == ProfileType::ClientLeadTradingAccount {
            profile.parameter1.clone()
        } else {
            String::new()
        },
        rotation: if rotate {
            profile.circle_between_agencies.clone()
        } else {
            Vec::new()
        },
    }
}

/// Steps 9–11 on the writer: the usage entry goes in the lead's job, whose
/// commit writes the answer in. A reserved window key is given back when
/// the lead was not stored.
fn submit(
    app: &App,
    draft: LeadDraft,
    reserved: Option<(dedupe::KeyHash, u64)>,
) -> (Code, Option<u64>) {
    match app.writer.call(|r| Job::Lead(Box::new(draft), r)) {
        Ok(Ok(Applied::Lead(o))) => (super::code_of(o.stored), Some(o.client_id)),
        Ok(Ok(_)) | Ok(Err(_)) => {
            window::release(app, reserved);
            (Code::DatabaseError, None)
        }
        Err(e) => {
            window::release(app, reserved);
            (submit_failed(app, e), None)
        }
    }
}

/// The call a new lead of a `dialer_campaign` profile queues.
fn dial_entry(
    cfg: &Config,
    profile: &Profile,
    c: &Client,
    now: u64,
) -> Option<crate::store::dialer::DialCall> {
    if profile.dialer_campaign.is_empty() {
        return None;
    }
    let campaign = cfg
        .raw
        .dialer
        .campaigns
        .iter()
        .find(|k| k.code == profile.dialer_campaign)?;
    let phone = crate::vocab::dial::normalize_target(&c.phone1)?;
    let mut data = serde_json::Map::new();
    data.insert("var_LeadCampaign".into(), c.lead_supplier.clone().into());
    Some(crate::store::dialer::DialCall {
        campaign: campaign.code.clone(),
        campaign_id: campaign.id,
        phone,
        priority: 1,
        custom_data: Some(data),
        originate_ms: now,
        inserted: clock::rfc3339_utc(now),
        ..Default::default()
    })
}

/// The active rules of active buyers whose filters the lead passes.
fn matching_rules(cfg: &Config, profile: u32, c: &Client) -> Vec<crate::config::raw::RuleSpec> {
    let eq = |want: &str, have: &str| want.is_empty() || want.eq_ignore_ascii_case(have);
    cfg.raw
        .rules
        .iter()
        .filter(|r| {
            r.active
                && cfg.raw.buyers.iter().any(|b| b.id == r.buyer && b.active)
                && (r.profiles.is_empty() || r.profiles.contains(&profile))
                && eq(&r.lead_supplier, &c.lead_supplier)
                && eq(&r.utm_source, &c.utm_source)
                && eq(&r.city, &c.city)
        })
        .cloned()
        .collect()
}

/// The post as readable text, for the inbox lead's `content`.
fn content_text(posted: &BTreeMap<String, String>) -> String {
    let mut s = String::with_capacity(posted.iter().map(|(k, v)| k.len() + v.len() + 3).sum());
    for (k, v) in posted {
        s.push_str(k);
        s.push_str(": ");
        s.push_str(v);
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A configuration with one profile (`profile` are its own keys) and
    /// `extra` sections.
    fn config_with(profile: &str, extra: &str) -> Config {
        let text = format!(
            "[intake]\nweb_branch = \"\"\n{extra}\n[[profiles]]\nnumber = 1\nform_name = \"f\"\n{profile}\n[[profiles.fields]]\nexternal = \"Phone\"\nfield = \"phone1\"\n"
        );
        Config::from_toml(&text).unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn the_content_text_is_one_line_per_field() {
        let posted = BTreeMap::from([
            ("City".into(), "Haifa".into()),
            ("Phone".into(), "052".into()),
        ]);
        assert_eq!(content_text(&posted), "City: Haifa\nPhone: 052\n");
    }

    #[test]
    fn rules_match_by_profile_and_filters_of_active_buyers() {
        let cfg = config_with(
            "",
            r#"
[[buyers]]
id = 1
[[buyers]]
id = 2
active = false
[[rules]]
id = 1
buyer = 1
url = "http://127.0.0.1:9/a"
routing_id_param = "R"
city = "haifa"
[[rules]]
id = 2
buyer = 1
url = "http://127.0.0.1:9/b"
routing_id_param = "R"
profiles = [7]
[[rules]]
id = 3
buyer = 2
url = "http://127.0.0.1:9/c"
routing_id_param = "R"
"#,
        );
        let client = Client {
            city: "Haifa".into(),
            ..Client::default()
        };
        let ids: Vec<u64> = matching_rules(&cfg, 1, &client)
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(
            ids,
            [1],
            "city matches in any case; rule 2 is another profile's; buyer 2 is inactive"
        );
        let elsewhere = Client::default();
        assert!(matching_rules(&cfg, 1, &elsewhere).is_empty());
    }

    #[test]
    fn a_dial_entry_only_for_a_campaign_profile_with_a_dialable_phone() {
        let code = "AbCdEfGhIjKlMnOpQrStUvWxYz012345";
        let cfg = config_with(
            &format!("dialer_campaign = \"{code}\""),
            &format!("[[dialer.campaigns]]\nid = 4\ncode = \"{code}\"\n"),
        );
        let profile = &cfg.profiles[0];
        let mut c = Client {
            phone1: "972522345678".into(),
            lead_supplier: "fb".into(),
            ..Client::default()
        };
        let call = dial_entry(&cfg, profile, &c, 1_000).expect("queued");
        assert_eq!((call.campaign_id, call.phone.as_str()), (4, "972522345678"));
        assert_eq!(call.custom_data.unwrap()["var_LeadCampaign"], "fb");
        c.phone1 = "not a number".into();
        assert!(dial_entry(&cfg, profile, &c, 1_000).is_none());
    }
}
