//! The APIs beside intake: the admin API (SPEC §10), the mini HTML form,
//! and static pages for redirect targets.
//!
//! Floor: the handlers of the admin, CRM, OData and dialer APIs, above `app`,
//! `store`, `config`, `http` and `vocab`; only the router imports them.

pub mod admin;
pub mod admin_config;
pub mod admin_search;
pub mod admin_stats;
pub mod crm;
pub mod crm_words;
pub mod csv_export;
pub mod dialer;
pub mod odata;
