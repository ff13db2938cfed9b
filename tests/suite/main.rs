//! Every end-to-end test in one binary: each file here is a module (`cargo test --test
//! suite faults::` runs one), sharing one build of the harness in `support/`. The tests
//! run against real PostgreSQL, Redis, an S3 endpoint and ffmpeg; each has its own
//! database, queue name and bucket folder. (`tests/log_hygiene.rs` stays a binary of its
//! own: it installs a process-wide log subscriber.)

mod support;

mod alternate_audio;
mod analytics;
mod authorization;
mod browser;
mod captions;
mod chunked;
mod configuration;
mod conformance;
mod corpus;
mod downloads;
mod email;
mod encryption;
mod engagement;
mod faults;
mod hardening;
mod hostile;
mod listings;
mod live_updates;
mod loudness;
mod metrics;
mod monitoring;
mod oidc;
mod openapi;
mod pipeline;
mod playable;
mod playback_access;
mod queue;
mod quotas;
mod rate_limits;
mod reconciler;
mod sessions;
mod storage;
mod streaming_http;
mod uploads;
mod web_app;
mod webhooks;
