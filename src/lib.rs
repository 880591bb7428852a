//! dataport: a single-binary appliance that takes sales leads over HTTP at
//! DOS scale and turns them into durable CRM records (see `SPEC.md`).
//!
//! # Layout
//!
//! The house is one-way: a module imports only modules on a floor below
//! it (`python3 ../shared/tools/structure.py` lists any circle). From the
//! ground up:
//!
//! | floor | module | owns | runs on |
//! |---|---|---|---|
//! | 0 | [`ascii`], [`inline_str`], [`pool`], [`oneshot`], [`clock`] | decimals without `core::fmt`, in-place short strings, reusable buffers, the one-value channel a coroutine parks on, time | anywhere |
//! | 0 | [`codes`], [`auth`], [`dedupe`], [`ratelimit`] | intake's wire answers, API keys, the lock-free hour window, per-IP token buckets | request coroutine |
//! | 1 | [`vocab`] | the shared vocabulary: records and their fields, phone/email/dial-target normal forms, scripts, `UserRef` | anywhere |
//! | 2 | [`metrics`] | counters and histograms (atomics) | anywhere |
//! | 3 | [`dns`] | email domain checks, cached | its own OS thread (tokio inside) |
//! | 4 | [`config`] | the TOML file and run-time overrides, checked into typed profiles | start-up, admin changes |
//! | 4 | [`http`] | connection loop, limits, body decoding, read deadlines | one `may` coroutine per connection; the watchdog thread |
//! | 5 | [`outbox`] | what an event notifies, rendered (rules, templates) | the writer thread |
//! | 5 | [`captcha`] | the mini form's signed challenges | request coroutine |
//! | 5 | [`cluster`] | cluster mode: what the nodes agree on through NATS JetStream | its own OS thread (tokio inside) |
//! | 6 | [`store`] | LMDB: records, indexes, steps 9–11, inbox, deliveries, dial queues, the group-commit writer | the writer thread (writes), coroutines (reads) |
//! | 6 | [`pages`] | the mini form page and the static pages | request coroutine |
//! | 7 | [`app`] | the state every handler shares | — |
//! | 8 | [`intake`] | the §4/§5 pipelines as named steps | request coroutine |
//! | 8 | [`api`] | admin API, CRM leads API, OData for buyers, dialer API | request coroutine |
//! | 8 | [`sender`], [`dialer`] | the outbox's sender threads, the dial dispatcher | their own OS threads |
//! | 8 | [`replicate`] | cluster mode: publishing this node's records, applying the others' | their own OS threads |
//! | 9 | [`router`] | path → handler | request coroutine |
//! | 10 | [`server`] | start-up wiring and stop | main thread |
//! | — | [`loadgen`], [`preload`] | the bundled load tester, synthetic leads | their own threads |
//!
//! A request's coroutine never blocks its thread: writes go to the writer
//! thread over a channel and the coroutine parks on a [`oneshot`] channel
//! (may's `Blocker` underneath) until the batch carrying its record is
//! committed.

pub mod api;
pub mod app;
pub mod ascii;
pub mod async_thread;
pub mod auth;
pub mod captcha;
pub mod clock;
pub mod cluster;
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
pub mod replicate;
pub mod router;
pub mod sender;
pub mod server;
pub mod store;
pub mod vocab;
