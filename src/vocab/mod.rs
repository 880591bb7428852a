//! The shared vocabulary: what several floors above name and compare, with
//! no behaviour of their own and no import of any module above. Records
//! and their fields ([`records`]), the normal forms of phones, emails and
//! dial targets ([`normalize`], [`dial`]), the scripts of the language
//! check ([`language`]), a user as the inbox sees one ([`UserRef`]).
//!
//! Floor: imports only the leaves (`inline_str`); `config`, `store`,
//! `intake`, `api` and the rest import it.

pub mod dial;
pub mod language;
pub mod normalize;
pub mod phone_cache;
pub mod phone_validity;
pub mod records;

/// A user as the inbox needs one.
#[derive(Debug, Clone, Default)]
pub struct UserRef {
    pub id: u64,
    pub login: String,
    pub name: String,
    pub email: String,
    pub active: bool,
}
