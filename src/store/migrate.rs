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
}
