//! What the writer thread is asked to do ([`Job`]) and what it answers
//! ([`Applied`]); re-exported by [`super::writer`], whose thread applies them.

use std::sync::Arc;

use super::leads::{ClientPatch, LeadDraft, LeadOutcome};
use super::records::{BadLead, Client};
use super::rendered::RenderedEntry;
use super::tickets::TicketDraft;
use super::StoreError;

/// What a job's submitter gets back.
#[derive(Debug)]
pub enum Applied {
    Lead(LeadOutcome),
    Client(Option<Box<Client>>),
    InboxLead(Option<Box<super::records::InboxLead>>),
    Delivery(Option<Box<super::records::DeliveryRecord>>),
    Numbers(Vec<u64>),
    /// None = no such record; Some(false) = not in a state to resend.
    Resent(Option<bool>),
    Stored(u64),
}

pub type ReplyResult = std::result::Result<Applied, Arc<StoreError>>;
pub(super) type Reply = crate::oneshot::Sender<ReplyResult>;

/// One unit of work for the writer.
pub enum Job {
    /// Fire-and-forget: the usage log of a request (SPEC §4 step 1).
    Usage(RenderedEntry),
    /// Fire-and-forget: extra fields of a post that became no record.
    Automation(RenderedEntry),
    /// Both of the above for one post (a duplicate's usual pair): one queue
    /// slot and one hand-over instead of two.
    UsageAndAutomation(RenderedEntry, RenderedEntry),
    Lead(Box<LeadDraft>, Reply),
    Ticket(Box<TicketDraft>, Reply),
    BadLead(BadLead, Reply),
    PatchClient(u64, ClientPatch, Reply),
    /// Replies once everything queued before it is committed.
    Sync(Reply),
    /// How an attempt to send a buyer delivery ended: outbox id, outcome,
    /// HTTP status, the first bytes of the answer.
    DeliveryResult(u64, crate::outbox::Delivery, u16, String, Reply),
    /// Sends a failed delivery again.
    ResendDelivery(u64, Reply),
    /// A buyer's feedback on delivery `id`.
    Feedback(u64, super::records::Feedback, Reply),
    /// A change to the dial queues; replies with the CallIDs or counts.
    Dialer(super::dialer::DialerOp, Reply),
    /// `add` of the CRM leads API.
    CrmAdd(Box<super::inbox::CrmAdd>, Reply),
    /// `PATCH /admin/v1/leads/{id}` (with today's local date).
    PatchLead(u64, super::inbox::LeadPatch, String, Reply),
    /// Stores (Some) or deletes (None) a run-time configuration override.
    ConfigPut(String, Option<Vec<u8>>, Reply),
    /// How an attempt to send an outbox record ended.
    OutboxResult(u64, crate::outbox::Delivery, Reply),
    /// Cluster mode: records other nodes made (`replica::decode` entries);
    /// replies with how many changed something.
    ApplyRemote(Vec<Vec<u8>>, Reply),
    /// Cluster mode: the replication log is in JetStream up to this sequence.
    ReplPublished(u64, Reply),
}
