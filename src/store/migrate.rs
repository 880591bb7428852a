//! Schema migrations run by [`Store::open`](super::Store::open) inside its
//! first write transaction, so a migration is all or nothing.

use heed::types::{Bytes, Unit};
use heed::{Database, Env, RwTxn, WithoutTls};

use super::keys::{person_key, Owner};
use super::{Dbs, Result, StoreError};

/// Schema 1 → 2: the client indexes `idx_phone` / `idx_email` (value ‖ 0 ‖
/// id) and the contact indexes `idx_contact_phone` / `idx_contact_email`
/// merge into `idx_person_phone` / `idx_person_email` (value ‖ 0 ‖ owner ‖
/// id). The old databases are emptied.
pub(super) fn person_indexes(env: &Env<WithoutTls>, wtxn: &mut RwTxn<'_>, dbs: &Dbs) -> Result<()> {
    let moves = [
        ("idx_phone", dbs.idx_phone, Owner::Client),
        ("idx_email", dbs.idx_email, Owner::Client),
        ("idx_contact_phone", dbs.idx_phone, Owner::Contact),
        ("idx_contact_email", dbs.idx_email, Owner::Contact),
    ];
    let mut moved = 0usize;
    for (old_name, new, owner) in moves {
        let Some(old): Option<Database<Bytes, Unit>> = env.open_database(wtxn, Some(old_name))?
        else {
            continue;
        };
        let mut keys = Vec::new();
        for item in old.iter(wtxn)? {
            let (k, ()) = item?;
            keys.push(k.to_vec());
        }
        for k in &keys {
            let split = k
                .len()
                .checked_sub(9)
                .filter(|&i| k[i] == 0)
                .ok_or_else(|| StoreError::Corrupt(format!("{old_name} key")))?;
            let id = u64::from_be_bytes(k[split + 1..].try_into().expect("8 bytes"));
            new.put(wtxn, &person_key(&k[..split], owner, id), &())?;
        }
        old.clear(wtxn)?;
        moved += keys.len();
    }
    tracing::info!(
        entries = moved,
        "storage schema 1 -> 2: phone and email indexes merged"
    );
    Ok(())
}

/// Schema 3 → 4: the CRM inbox leads go into the phone and email indexes
/// (owner 4), and the bad leads kept for a client into `idx_client_refs`.
/// Posts logged before schema 4 are not added: their entries do not say
/// which phones and email the intake read in them (`carried`, written
/// from schema 4 on), and reading the bodies again here would be a second
/// intake.
pub(super) fn client_refs(wtxn: &mut RwTxn<'_>, dbs: &Dbs) -> Result<()> {
    use super::keys::{client_ref_key, ClientRef};
    use super::records::{BadLead, InboxLead};
    use super::Collection;
    let mut keys: Vec<(Database<Bytes, Unit>, Vec<u8>)> = Vec::new();
    for item in dbs.records(Collection::Leads).iter(wtxn)? {
        let (id, json) = item?;
        let lead: InboxLead = serde_json::from_slice(json)?;
        for (db, v) in [(dbs.idx_phone, &lead.phone), (dbs.idx_email, &lead.email)] {
            if !v.is_empty() {
                keys.push((db, person_key(v.as_bytes(), Owner::Lead, id)));
            }
        }
    }
    for item in dbs.records(Collection::BadLeads).iter(wtxn)? {
        let (id, json) = item?;
        let bad: BadLead = serde_json::from_slice(json)?;
        if bad.client != 0 {
            let key = client_ref_key(bad.client, ClientRef::BadLead, id);
            keys.push((dbs.idx_client_refs, key.to_vec()));
        }
    }
    for (db, k) in &keys {
        db.put(wtxn, k, &())?;
    }
    tracing::info!(
        entries = keys.len(),
        "storage schema 3 -> 4: CRM leads and bad leads indexed"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use heed::types::{Bytes, Str, Unit};
    use heed::{Database, EnvOpenOptions};

    use super::super::keys::{index_key, person_lookup, Owner};
    use super::super::Store;

    #[test]
    fn schema_1_indexes_are_merged_on_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            // A schema-1 data dir: separate client and contact indexes.
            let env = unsafe { EnvOpenOptions::new().max_dbs(32).open(dir.path()).unwrap() };
            let mut w = env.write_txn().unwrap();
            let meta: Database<Str, Bytes> = env.create_database(&mut w, Some("meta")).unwrap();
            meta.put(&mut w, "schema_version", &1u64.to_be_bytes())
                .unwrap();
            for (name, value, id) in [
                ("idx_phone", "972502345678", 7u64),
                ("idx_email", "dana@example.com", 7),
                ("idx_contact_phone", "972502345678", 9),
                ("idx_contact_email", "dana@example.com", 9),
                ("idx_contact_email", "boss@example.com", 10),
            ] {
                let db: Database<Bytes, Unit> = env.create_database(&mut w, Some(name)).unwrap();
                db.put(&mut w, &index_key(value.as_bytes(), id), &())
                    .unwrap();
            }
            w.commit().unwrap();
            env.prepare_for_closing().wait();
        }
        let store = Store::open(dir.path(), 16 << 20).unwrap();
        assert_eq!(store.clients_by_phone("972502345678").unwrap(), [7]);
        assert_eq!(store.clients_by_email("dana@example.com").unwrap(), [7]);
        assert!(store
            .clients_by_email("boss@example.com")
            .unwrap()
            .is_empty());
        let r = store.env.read_txn().unwrap();
        let contacts = |db, v: &str| person_lookup(db, &r, v.as_bytes(), Owner::Contact).unwrap();
        assert_eq!(contacts(store.dbs.idx_phone, "972502345678"), [9]);
        assert_eq!(contacts(store.dbs.idx_email, "boss@example.com"), [10]);
        let v = store.dbs.meta.get(&r, "schema_version").unwrap().unwrap();
        assert_eq!(v, super::super::SCHEMA_VERSION.to_be_bytes());
    }

    #[test]
    fn schema_3_leads_and_bad_leads_are_indexed_on_open() {
        use heed::byteorder::BE;
        use heed::types::U64;
        let dir = tempfile::tempdir().unwrap();
        {
            let env = unsafe { EnvOpenOptions::new().max_dbs(32).open(dir.path()).unwrap() };
            let mut w = env.write_txn().unwrap();
            let meta: Database<Str, Bytes> = env.create_database(&mut w, Some("meta")).unwrap();
            meta.put(&mut w, "schema_version", &3u64.to_be_bytes())
                .unwrap();
            let leads: Database<U64<BE>, Bytes> =
                env.create_database(&mut w, Some("leads")).unwrap();
            leads
                .put(
                    &mut w,
                    &5,
                    br#"{"id":5,"phone":"972522345678","email":"noa@x.example"}"#,
                )
                .unwrap();
            let bad: Database<U64<BE>, Bytes> =
                env.create_database(&mut w, Some("bad_leads")).unwrap();
            bad.put(&mut w, &2, br#"{"id":2,"client":7,"reason":"HOT"}"#)
                .unwrap();
            bad.put(&mut w, &3, br#"{"id":3,"client":0,"reason":"008"}"#)
                .unwrap();
            w.commit().unwrap();
            env.prepare_for_closing().wait();
        }
        let store = Store::open(dir.path(), 16 << 20).unwrap();
        assert_eq!(store.leads_by("972522345678", "").unwrap(), [5]);
        assert_eq!(store.leads_by("", "noa@x.example").unwrap(), [5]);
        assert_eq!(store.bad_leads_of(&[7]).unwrap(), [2]);
        assert!(store.bad_leads_of(&[0]).unwrap().is_empty());
    }
}
