//! Index keys: how a value and a record id become an LMDB key, and how the
//! ids under a value are read back. Plain indexes are `value ‖ 0x00 ‖ id`;
//! the phone and email indexes, shared by clients and contacts, are
//! `value ‖ 0x00 ‖ owner ‖ id` (values never contain a zero byte). A
//! post's duplicate key is kept in the same index, right after the entries
//! of the post's first phone (or its email): `value ‖ 0x00 ‖ 3 ‖ hash ‖ at`.

use heed::types::{Bytes, Unit};
use heed::{Database, RoTxn, WithoutTls};

use super::{Result, StoreError};

/// Whose entry a key of the shared phone and email indexes is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    Client = 1,
    Contact = 2,
    /// A duplicate key of the hour window, anchored at this value.
    DuplicateKey = 3,
    /// A lead of the CRM inbox (SPEC §7), by its phone and email.
    Lead = 4,
    /// A post (usage-log entry), by the phones and email it carried.
    Post = 5,
}

/// What kind of record refers to a client in `idx_client_refs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientRef {
    /// A bad lead kept for the client (a renewal's old record, a HOT lead's post).
    BadLead = 1,
}

/// A key of `idx_client_refs`: client ‖ kind ‖ id, all fixed width.
pub(crate) fn client_ref_key(client: u64, kind: ClientRef, id: u64) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[..8].copy_from_slice(&client.to_be_bytes());
    k[8] = kind as u8;
    k[9..].copy_from_slice(&id.to_be_bytes());
    k
}

/// The ids of `kind` records referring to `client`.
pub(crate) fn client_refs(
    db: Database<Bytes, Unit>,
    txn: &RoTxn<'_, WithoutTls>,
    client: u64,
    kind: ClientRef,
) -> Result<Vec<u64>> {
    let mut prefix = [0u8; 9];
    prefix[..8].copy_from_slice(&client.to_be_bytes());
    prefix[8] = kind as u8;
    ids_under(db, txn, &prefix)
}

/// The record id at the end of an index key (its last 8 bytes, big-endian);
/// `index` names the index in the error of a key too short to hold one.
pub(super) fn trailing_id(k: &[u8], index: &str) -> Result<u64> {
    k.len()
        .checked_sub(8)
        .and_then(|at| k[at..].try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| StoreError::Corrupt(index.into()))
}

/// The part of a key before the id: value ‖ 0x00, then the owner's byte in
/// the shared phone/email indexes. Room is left for the id.
fn prefix(value: &[u8], owner: Option<Owner>) -> Vec<u8> {
    let mut k = Vec::with_capacity(value.len() + 10);
    k.extend_from_slice(value);
    k.push(0);
    if let Some(o) = owner {
        k.push(o as u8);
    }
    k
}

fn with_id(mut prefix: Vec<u8>, id: u64) -> Vec<u8> {
    prefix.extend_from_slice(&id.to_be_bytes());
    prefix
}

/// A key of a plain index: value ‖ 0x00 ‖ id.
pub(crate) fn index_key(value: &[u8], id: u64) -> Vec<u8> {
    with_id(prefix(value, None), id)
}

/// The ids carrying `value` in a plain index.
pub(crate) fn index_lookup(
    db: Database<Bytes, Unit>,
    txn: &RoTxn<'_, WithoutTls>,
    value: &[u8],
) -> Result<Vec<u64>> {
    ids_under(db, txn, &prefix(value, None))
}

/// A key of the shared phone/email indexes: value ‖ 0x00 ‖ owner ‖ id.
pub(crate) fn person_key(value: &[u8], owner: Owner, id: u64) -> Vec<u8> {
    with_id(prefix(value, Some(owner)), id)
}

/// Hands `f` the key [`person_key`] makes, built on the stack when the
/// value is short (a post's carried phone or email, on the flood path:
/// no allocation per post).
pub(crate) fn with_person_key<R>(
    value: &[u8],
    owner: Owner,
    id: u64,
    f: impl FnOnce(&[u8]) -> R,
) -> R {
    let mut buf = [0u8; 266];
    let n = value.len();
    if n + 10 > buf.len() {
        return f(&person_key(value, owner, id));
    }
    buf[..n].copy_from_slice(value);
    buf[n] = 0;
    buf[n + 1] = owner as u8;
    buf[n + 2..n + 10].copy_from_slice(&id.to_be_bytes());
    f(&buf[..n + 10])
}

/// The ids of `owner`s carrying `value` in a shared phone/email index.
pub(crate) fn person_lookup(
    db: Database<Bytes, Unit>,
    txn: &RoTxn<'_, WithoutTls>,
    value: &[u8],
    owner: Owner,
) -> Result<Vec<u64>> {
    ids_under(db, txn, &prefix(value, Some(owner)))
}

/// value ‖ 0x00 ‖ 3 ‖ hash: where `hash`'s entries anchored at `value` start.
fn anchored_prefix(value: &[u8], hash: u128) -> Vec<u8> {
    let mut p = prefix(value, Some(Owner::DuplicateKey));
    p.extend_from_slice(&hash.to_be_bytes());
    p
}

/// A duplicate key kept next to its anchor value: value ‖ 0x00 ‖ 3 ‖ hash ‖ at.
pub(crate) fn anchored_duplicate_key(value: &[u8], hash: u128, at: u64) -> Vec<u8> {
    with_id(anchored_prefix(value, hash), at)
}

/// The latest time `hash` was accepted, among its entries anchored at `value`.
pub(crate) fn anchored_duplicate_lookup(
    db: Database<Bytes, Unit>,
    txn: &RoTxn<'_, WithoutTls>,
    value: &[u8],
    hash: u128,
) -> Result<Option<u64>> {
    Ok(ids_under(db, txn, &anchored_prefix(value, hash))?
        .into_iter()
        .max())
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
