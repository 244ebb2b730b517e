//! gatehouse — an identity-aware proxy with an Ory Oathkeeper-compatible rules engine.
//!
//! A request is matched against access rules, run through its authenticators, authorizer and
//! mutators, and then forwarded upstream or answered on the decisions API. Everything a request
//! uses is compiled when the rule set loads and swapped in as one snapshot.
//!
//! # Layout
//! - `cli` — command-line parsing and the non-serving commands.
//! - `cases` — `rules test`: written-down requests decided in-process, with explanations.
//! - `app` — process state (the snapshot behind `ArcSwap`), start-up and shutdown.
//! - `config/` — typed configuration, defaults, file merging, environment overrides.
//! - `rules/` — rule spec types, sources, compilation, matching index and path normalizer.
//! - `pipeline/` — session, authenticators, authorizers, mutators, error handlers, templates.
//! - `proxy/` — the reverse proxy: forwarding, header hygiene, upstream client.
//! - `decisions` — the `/decisions` entry into the pipeline.
//! - `api/` — the API port's routes.
//! - `server` — listeners (hyper-util auto, TLS handshake, graceful shutdown).
//! - `tls` — listener TLS config (rustls) and certificate hot reload.
//! - `cors` — CORS preflight answers and response headers for the listeners.
//! - `client` — the CLI's HTTP client.
//! - `format` — JSON/YAML document decoding (the only place YAML is parsed).
//! - `datetime` — UTC calendar arithmetic (RFC 3339, AWS signature dates).
//! - `blob/` — rule repositories and JWKS documents in S3 (`s3://`): signing and AWS credentials.
//! - `credentials/` — JWKS fetching and caching, id_token signing keys and their publication,
//!   key generation (`credentials generate`).
//! - `outbound` — the pooled client, deadlines and bounded retries for calls to auth services.
//! - `telemetry` — logging.

pub mod api;
pub mod app;
pub mod blob;
pub mod cases;
pub mod cli;
pub mod client;
pub mod config;
pub mod cors;
pub mod credentials;
pub mod datetime;
pub mod decisions;
pub mod format;
pub mod outbound;
pub mod pipeline;
pub mod proxy;
pub mod registry;
pub mod rules;
pub mod server;
pub mod telemetry;
pub mod tls;

/// The crate version, served by `/version` and `gatehouse version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
