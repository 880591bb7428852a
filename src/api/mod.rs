//! The APIs beside intake: the admin API (SPEC §10) and static pages for
//! redirect targets.

pub mod admin;
pub mod static_files;
