//! Index keys: how a value and a record id become an LMDB key, and how the
//! ids under a value are read back. Plain indexes are `value ‖ 0x00 ‖ id`;
//! the phone and email indexes, shared by clients and contacts, are
//! `value ‖ 0x00 ‖ owner ‖ id` (values never contain a zero byte).

use heed::types::{Bytes, Unit};
use heed::{Database, RoTxn, WithoutTls};

use super::{Result, StoreError};

/// A key of a plain index: value ‖ 0x00 ‖ id.
pub(crate) fn index_key(value: &[u8], id: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(value.len() + 9);
    k.extend_from_slice(value);
    k.push(0);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

pub(crate) fn index_lookup(
    db: Database<Bytes, Unit>,
    txn: &RoTxn<'_, WithoutTls>,
    value: &[u8],
) -> Result<Vec<u64>> {
    let mut prefix = Vec::with_capacity(value.len() + 1);
    prefix.extend_from_slice(value);
    prefix.push(0);
    ids_under(db, txn, &prefix)
}

/// Whose entry a key of the shared phone and email indexes is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    Client = 1,
    Contact = 2,
}

/// A key of the shared phone/email indexes: value ‖ 0x00 ‖ owner ‖ id.
pub(crate) fn person_key(value: &[u8], owner: Owner, id: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(value.len() + 10);
    k.extend_from_slice(value);
    k.push(0);
    k.push(owner as u8);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// The ids of `owner`s carrying `value` in a shared phone/email index.
pub(crate) fn person_lookup(
    db: Database<Bytes, Unit>,
    txn: &RoTxn<'_, WithoutTls>,
    value: &[u8],
    owner: Owner,
) -> Result<Vec<u64>> {
    let mut prefix = Vec::with_capacity(value.len() + 2);
    prefix.extend_from_slice(value);
    prefix.push(0);
    prefix.push(owner as u8);
    ids_under(db, txn, &prefix)
}

/// The ids (the last 8 bytes of each key) of the entries under `prefix`.
fn ids_under(
    db: Database<Bytes, Unit>,
    txn: &RoTxn<'_, WithoutTls>,
    prefix: &[u8],
) -> Result<Vec<u64>> {
    let mut ids = Vec::new();
    for item in db.prefix_iter(txn, prefix)? {
        let (k, ()) = item?;
        let tail: [u8; 8] = k[k.len() - 8..]
            .try_into()
            .map_err(|_| StoreError::Corrupt("index key".into()))?;
        ids.push(u64::from_be_bytes(tail));
    }
    Ok(ids)
}
