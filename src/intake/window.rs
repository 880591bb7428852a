//! Step 7, shared by client leads (SPEC §4) and service tickets (§5): the
//! duplicate-post window of the hour. The in-memory window answers most
//! posts; a key it no longer holds is asked of storage. In cluster mode a
//! post new to this node is then claimed in the cluster's window: another
//! node's claim makes it a 006 here too.

use std::sync::atomic::Ordering;

use crate::app::App;
use crate::cluster::Claim;
use crate::codes::Code;
use crate::dedupe::{Check, KeyHash};
use crate::store::{AnchorIndex, DuplicateKey};

/// Whether the post keyed `key` repeats one accepted within the window:
/// `Ok(None)` when it does (answered 006), else the key reserved for this
/// post (stored with its record, released if the record is not stored).
/// `anchor` is the first phone or email the key is kept beside in storage.
pub(super) fn reserve(
    app: &App,
    key: KeyHash,
    anchor: Option<(AnchorIndex, &str)>,
    now: u64,
) -> Result<Option<DuplicateKey>, Code> {
    let seen = match app.dedupe.check(key, now) {
        Check::Reserved => false,
        Check::Duplicate => true,
        Check::AskStorage => {
            app.metrics
                .duplicate_storage_lookups
                .fetch_add(1, Ordering::Relaxed);
            match app.store.duplicate_accepted_at(key, anchor) {
                Ok(Some(at)) if at + app.dedupe.window_ms() > now => true,
                // A post admitted meanwhile makes this one its duplicate.
                Ok(_) => !app.dedupe.admit(key, now),
                Err(_) => return Err(Code::DatabaseError),
            }
        }
    };
    if seen {
        return Ok(None);
    }
    if let Some(cluster) = &app.cluster {
        match cluster.claim_window(key) {
            Claim::Won => {}
            // Kept in this node's window too: its next repeat is answered here.
            Claim::Lost => return Ok(None),
            Claim::Unreachable if cluster.refuses() => {
                app.dedupe.release(key, now);
                return Err(Code::TechnicalError);
            }
            Claim::Unreachable => {}
        }
    }
    Ok(Some(DuplicateKey::new(key, now, anchor)))
}

/// Gives a reserved key back when its record was not stored, so a retry
/// of the post is not answered 006.
pub(super) fn release(app: &App, reserved: Option<(KeyHash, u64)>) {
    if let Some((key, at)) = reserved {
        app.dedupe.release(key, at);
        if let Some(cluster) = &app.cluster {
            cluster.release_window(key);
        }
    }
}
