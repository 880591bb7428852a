//! dataport: a single-binary appliance that takes sales leads over HTTP at
//! DOS scale and turns them into durable CRM records (see `SPEC.md`).
//!
//! # Layout
//!
//! | module      | owns | runs on |
//! |-------------|------|---------|
//! | [`config`]  | the TOML file, checked once into typed profiles | start-up |
//! | [`http`]    | connection loop, limits, body decoding; read deadlines (`http::watchdog`) | one `may` coroutine per connection; the watchdog's OS thread |
//! | [`app`]     | the router: path → module | request coroutine |
//! | [`intake`]  | the client-lead pipeline, steps 1–8 (SPEC §4) | request coroutine |
//! | [`dedupe`]  | the hour window of accepted posts (code 006), lock-free | request coroutine |
//! | [`oneshot`] | the one-value channel a coroutine parks on for the writer's reply | request coroutine + writer thread |
//! | [`pool`], [`inline_str`], [`ascii`] | reusable buffers, in-place short strings, decimals without `core::fmt`: what keeps the flood paths off the allocator and the formatter | anywhere |
//! | [`dns`]     | email domain checks, cached | its own OS thread (tokio inside); coroutines park on a channel |
//! | [`store`]   | LMDB: records, indexes, steps 9–11, inbox, deliveries, dial queues, the group-commit writer | the writer OS thread (writes), coroutines (reads) |
//! | [`api`]     | admin API (records and run-time configuration), CRM leads API, OData for buyers, dialer API, mini form, static pages | request coroutine |
//! | [`auth`]    | API keys: generation, hashes, constant-time checks | anywhere |
//! | [`dialer`]  | dial targets; the dispatcher releasing due calls | its own OS thread |
//! | [`outbox`]  | notification rules, the outbox sender | scheduler + sender OS threads |
//! | [`ratelimit`] | per-client-IP token buckets (429) | request coroutine, sharded |
//! | [`metrics`] | counters and histograms for `/metrics` | anywhere (atomics) |
//! | [`loadgen`] | the bundled load tester | its own threads |
//! | [`preload`] | synthetic leads for benchmarks, batched | the command's thread |
//! | [`server`]  | start-up wiring | main thread |
//!
//! A request's coroutine never blocks its thread: writes go to the writer
//! thread over a channel and the coroutine parks on a [`oneshot`] channel
//! (may's `Blocker` underneath) until the batch carrying its record is
//! committed.

pub mod api;
pub mod app;
pub mod ascii;
pub mod auth;
pub mod captcha;
pub mod clock;
pub mod codes;
pub mod config;
pub mod dedupe;
pub mod dialer;
pub mod dns;
pub mod http;
pub mod inline_str;
pub mod intake;
pub mod loadgen;
pub mod metrics;
pub mod oneshot;
pub mod outbox;
pub mod pages;
pub mod pool;
pub mod preload;
pub mod ratelimit;
pub mod router;
pub mod sender;
pub mod server;
pub mod store;
pub mod vocab;
