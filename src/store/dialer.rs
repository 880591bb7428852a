//! Dial queues (SPEC §9): calls per campaign ordered by priority (higher
//! first), then due time, then insertion; campaign run-time state (started /
//! stopped, members, queue settings); released calls kept as history.
//!
//! Keys: `pending` = campaign code ‖ (i64::MAX − priority) ‖ due ms ‖ call
//! row id; `by_phone` = code ‖ phone ‖ 0x00 ‖ row id. Both hold pending
//! calls only.

use serde::{Deserialize, Serialize};

use super::apply::Batch;
use super::keys::{index_key, index_lookup};
use super::{Collection, Result, Store, StoreError};

/// A call in a dial queue.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct DialCall {
    /// Row id (global).
    pub id: u64,
    pub campaign: String,
    pub campaign_id: u64,
    /// Counts up per campaign (the seed's CallID).
    pub call_id: u64,
    pub phone: String,
    pub customer_name: String,
    pub caller_id: String,
    pub caller_name: String,
    pub priority: i64,
    pub custom_data: Option<serde_json::Map<String, serde_json::Value>>,
    /// When it may be dialled (ms since the epoch, UTC).
    pub originate_ms: u64,
    /// `OriginateTime` as the sender gave it (epoch seconds), if it did.
    pub originate_time: Option<i64>,
    pub is_date_local: bool,
    /// RFC 3339 with milliseconds.
    pub inserted: String,
    /// pending | released | removed
    pub status: String,
    pub released_at: String,
    pub backend_result: String,
}

/// Run-time state of a campaign, over its configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct CampaignState {
    pub enabled: Option<bool>,
    pub members: Vec<String>,
    pub queue_for_monitoring: Option<u64>,
    pub queue_max_callers: Option<u64>,
    pub coefficient: Option<u64>,
}

/// A change to the dial queues.
#[derive(Debug, Clone)]
pub enum DialerOp {
    Add(Vec<DialCall>),
    /// Update the pending call to this phone in the campaign, or add it.
    Update(Box<DialCall>),
    Remove(String, String),
    Clear(String),
    SetState(String, CampaignState),
    /// Row ids released to the backend, with what it said, at a time.
    Release(Vec<(u64, String)>, String),
}

pub(super) fn pending_key(c: &DialCall) -> Vec<u8> {
    let mut k = Vec::with_capacity(c.campaign.len() + 24);
    k.extend_from_slice(c.campaign.as_bytes());
    k.extend_from_slice(&((i64::MAX as i128 - c.priority as i128) as u64).to_be_bytes());
    k.extend_from_slice(&c.originate_ms.to_be_bytes());
    k.extend_from_slice(&c.id.to_be_bytes());
    k
}

pub(super) fn phone_key(c: &DialCall) -> Vec<u8> {
    index_key(format!("{}{}", c.campaign, c.phone).as_bytes(), c.id)
}

impl Batch<'_> {
    fn put_call(&mut self, c: &DialCall) -> Result<()> {
        self.put_json(Collection::Calls, c.id, c)
    }

    fn index_call(&mut self, c: &DialCall) -> Result<()> {
        self.store
            .dbs
            .dial_pending
            .put(&mut self.txn, &pending_key(c), &())?;
        self.store
            .dbs
            .dial_phone
            .put(&mut self.txn, &phone_key(c), &())?;
        Ok(())
    }

    fn unindex_call(&mut self, c: &DialCall) -> Result<()> {
        self.store
            .dbs
            .dial_pending
            .delete(&mut self.txn, &pending_key(c))?;
        self.store
            .dbs
            .dial_phone
            .delete(&mut self.txn, &phone_key(c))?;
        Ok(())
    }

    /// Adds a call; returns its CallID.
    pub fn add_call(&mut self, mut c: DialCall) -> Result<u64> {
        let key = format!("callid:{}", c.campaign);
        let n = self.bump(self.store.dbs.dialer_state, &key)? + 1;
        c.id = self.seq.next(Collection::Calls);
        // In a cluster each node counts its own CallIDs: its id in the low bits.
        let node = self.store.cluster_node() as u64;
        let n = if node == 0 {
            n
        } else {
            (n << super::NODE_BITS) | node
        };
        c.call_id = n;
        c.status = "pending".into();
        self.index_call(&c)?;
        self.put_call(&c)?;
        Ok(n)
    }

    fn pending_to(&self, campaign: &str, phone: &str) -> Result<Vec<DialCall>> {
        let ids = index_lookup(
            self.store.dbs.dial_phone,
            &self.txn,
            format!("{campaign}{phone}").as_bytes(),
        )?;
        let mut out = Vec::new();
        for id in ids {
            if let Some(c) = self.get_json::<DialCall>(Collection::Calls, id)? {
                out.push(c);
            }
        }
        Ok(out)
    }

    pub fn apply_dialer(&mut self, op: &DialerOp) -> Result<Vec<u64>> {
        match op {
            DialerOp::Add(calls) => calls.iter().map(|c| self.add_call(c.clone())).collect(),
            DialerOp::Update(c) => match self.pending_to(&c.campaign, &c.phone)?.into_iter().next()
            {
                Some(mut old) => {
                    self.unindex_call(&old)?;
                    if !c.customer_name.is_empty() {
                        old.customer_name = c.customer_name.clone();
                    }
                    if !c.caller_id.is_empty() {
                        old.caller_id = c.caller_id.clone();
                    }
                    old.priority = c.priority;
                    if c.custom_data.is_some() {
                        old.custom_data = c.custom_data.clone();
                    }
                    old.originate_ms = c.originate_ms;
                    old.is_date_local = c.is_date_local;
                    self.index_call(&old)?;
                    self.put_call(&old)?;
                    Ok(vec![old.call_id])
                }
                None => Ok(vec![self.add_call((**c).clone())?]),
            },
            DialerOp::Remove(campaign, phone) => {
                let calls = self.pending_to(campaign, phone)?;
                for mut c in calls.iter().cloned() {
                    self.unindex_call(&c)?;
                    c.status = "removed".into();
                    self.put_call(&c)?;
                }
                Ok(vec![calls.len() as u64])
            }
            DialerOp::Clear(campaign) => {
                let mut ids = Vec::new();
                for item in self
                    .store
                    .dbs
                    .dial_pending
                    .prefix_iter(&self.txn, campaign.as_bytes())?
                {
                    let (k, ()) = item?;
                    ids.push(super::keys::trailing_id(k, "dial key")?);
                }
                for id in &ids {
                    if let Some(mut c) = self.get_json::<DialCall>(Collection::Calls, *id)? {
                        self.unindex_call(&c)?;
                        c.status = "removed".into();
                        self.put_call(&c)?;
                    }
                }
                Ok(vec![ids.len() as u64])
            }
            DialerOp::SetState(campaign, state) => {
                let json = serde_json::to_vec(state)?;
                let key = format!("state:{campaign}");
                self.store
                    .dbs
                    .dialer_state
                    .put(&mut self.txn, &key, &json)?;
                // Members and flags set through the dialer API hold for the cluster.
                self.log_dialer_state(&key, &json)?;
                Ok(Vec::new())
            }
            DialerOp::Release(done, at) => {
                for (id, result) in done {
                    if let Some(mut c) = self.get_json::<DialCall>(Collection::Calls, *id)? {
                        if c.status != "pending" {
                            continue;
                        }
                        self.unindex_call(&c)?;
                        c.status = "released".into();
                        c.released_at = at.clone();
                        c.backend_result = result.clone();
                        self.put_call(&c)?;
                    }
                }
                Ok(vec![done.len() as u64])
            }
        }
    }
}

impl Store {
    pub fn campaign_state(&self, campaign: &str) -> Result<CampaignState> {
        let rtxn = self.env.read_txn()?;
        match self
            .dbs
            .dialer_state
            .get(&rtxn, &format!("state:{campaign}"))?
        {
            Some(v) => Ok(serde_json::from_slice(v)?),
            None => Ok(CampaignState::default()),
        }
    }

    /// Pending calls of a campaign in dialling order; `due_by` keeps only
    /// calls due by then; at most `limit`.
    pub fn pending_calls(
        &self,
        campaign: &str,
        due_by: Option<u64>,
        limit: usize,
    ) -> Result<Vec<DialCall>> {
        let rtxn = self.env.read_txn()?;
        let calls = self.dbs.records(Collection::Calls);
        let mut out = Vec::new();
        for item in self
            .dbs
            .dial_pending
            .prefix_iter(&rtxn, campaign.as_bytes())?
        {
            if out.len() >= limit {
                break;
            }
            let (k, ()) = item?;
            let n = k.len();
            let due = u64::from_be_bytes(
                k[n - 16..n - 8]
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("dial key".into()))?,
            );
            if due_by.is_some_and(|t| due > t) {
                continue;
            }
            let id = super::keys::trailing_id(k, "dial key")?;
            if let Some(v) = calls.get(&rtxn, &id)? {
                out.push(serde_json::from_slice(v)?);
            }
        }
        Ok(out)
    }
}
