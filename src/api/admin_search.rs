//! Admin list lookups the LMDB indexes answer (issue 23): `?q=` (a phone
//! in any form intake accepts, or an email in any case) and equality on
//! the phone, email and external-key fields of clients and contacts. The
//! candidates come from the index, so a lookup costs the same with a
//! thousand clients stored or ten million; the list then applies its other
//! filters to those records only.
//!
//! `q` also serves the CRM inbox (`leads`, by the lead's own phone and
//! email), the usage log (the posts that carried the phone or email, as
//! the intake read them: made a client, duplicates, refusals alike) and
//! `bad_leads` through the clients the phone or email names (the bad leads
//! kept for them, `idx_client_refs`).

use crate::app::App;
use crate::store::Collection;
use crate::vocab::normalize;

/// Which records an index names for this request, or None when no index
/// serves it (the list scans, bounded by `admin.max_scan`). Takes `q` out
/// of `filters` and rewrites phone and email values to their normal forms,
/// as stored, so the remaining equality checks compare like with like.
pub fn candidates(
    app: &App,
    coll: Collection,
    filters: &mut Vec<(String, String)>,
) -> Result<Option<Vec<u64>>, String> {
    let people = matches!(coll, Collection::Clients | Collection::Contacts);
    let q = filters
        .iter()
        .position(|(k, _)| k == "q")
        .map(|i| filters.remove(i).1);
    let served = people
        || matches!(
            coll,
            Collection::Leads | Collection::BadLeads | Collection::UsageLog
        );
    if q.is_some() && !served {
        return Err(format!(
            "q (a phone or an email, through the index) is served for clients, contacts, leads, bad_leads and usage_log, not {}",
            coll.name()
        ));
    }
    if people {
        for (k, v) in filters.iter_mut() {
            let k = k.to_ascii_lowercase();
            if is_phone_field(&k) {
                *v = app.phones.normalize(v);
            } else if k == "email" {
                *v = normalize::email(v);
            }
        }
    }
    let found = if let Some(q) = q {
        by_q(app, coll, q.trim())
    } else if !people {
        return Ok(None);
    } else if let Some((_, v)) = filters
        .iter()
        .find(|(k, _)| is_phone_field(&k.to_ascii_lowercase()))
    {
        by_phone(app, coll, v)
    } else if let Some((_, v)) = filters
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("email"))
    {
        by_email(app, coll, v)
    } else if let Some((_, v)) = filters
        .iter()
        .find(|(k, _)| coll == Collection::Clients && k.eq_ignore_ascii_case("external_key"))
    {
        app.store
            .clients_by_external_key(v)
            .map_err(|e| e.to_string())
    } else {
        return Ok(None);
    };
    let mut ids = found?;
    ids.sort_unstable();
    ids.dedup();
    Ok(Some(ids))
}

/// `q`: a phone (any form intake accepts) or an email (any case), looked up
/// where the collection's records are indexed: clients and contacts by
/// their own phones and email, CRM leads and posts likewise, bad leads
/// through the clients with it.
fn by_q(app: &App, coll: Collection, q: &str) -> Result<Vec<u64>, String> {
    let (phone, email) = if q.contains('@') {
        (String::new(), normalize::email(q))
    } else {
        (app.phones.normalize(q), String::new())
    };
    let store = &app.store;
    let err = |e: crate::store::StoreError| e.to_string();
    match coll {
        Collection::Clients | Collection::Contacts => {
            let mut ids = by_phone(app, coll, &phone)?;
            ids.extend(by_email(app, coll, &email)?);
            Ok(ids)
        }
        Collection::Leads => store.leads_by(&phone, &email).map_err(err),
        Collection::UsageLog => {
            let mut ids = store.posts_by(&phone, &email).map_err(err)?;
            // A phone intake could not read was carried as posted: found
            // when searched as posted.
            if email.is_empty() && q != phone {
                ids.extend(store.posts_by(q, "").map_err(err)?);
            }
            Ok(ids)
        }
        _ => {
            let mut clients = by_phone(app, Collection::Clients, &phone)?;
            clients.extend(by_email(app, Collection::Clients, &email)?);
            store.bad_leads_of(&clients).map_err(err)
        }
    }
}

fn is_phone_field(k: &str) -> bool {
    matches!(k, "phone" | "phone1" | "phone2" | "phone3")
}

fn by_phone(app: &App, coll: Collection, phone: &str) -> Result<Vec<u64>, String> {
    if phone.is_empty() {
        return Ok(Vec::new());
    }
    match coll {
        Collection::Clients => app.store.clients_by_phone(phone),
        _ => app.store.contacts_by_phone(phone),
    }
    .map_err(|e| e.to_string())
}

fn by_email(app: &App, coll: Collection, email: &str) -> Result<Vec<u64>, String> {
    if email.is_empty() {
        return Ok(Vec::new());
    }
    match coll {
        Collection::Clients => app.store.clients_by_email(email),
        _ => app.store.contacts_by_email(email),
    }
    .map_err(|e| e.to_string())
}
