//! Per-rule rate limits (gatehouse extension, DESIGN §4): `rate_limit: {requests, per, burst,
//! by, max_keys}` on a rule allows each key (the authenticated subject, the client address, or
//! the whole rule) `requests` per `per`, with bursts of up to `burst`. Checked after the
//! authenticators (so the subject is known) and before the authorizer (so a flood never reaches
//! a policy service); over the limit -> a JSON 429 with `Retry-After` and `X-RateLimit-*`
//! headers, whatever the rule's error handlers.
//!
//! `by: ip` counts the client's address: when forwarded headers are trusted, the right-most
//! public address of `X-Forwarded-For` (the one the nearest proxy saw; entries a client writes
//! itself are to its left), else the peer. Keys are kept as keyed 64-bit hashes, so a key's
//! size never depends on what a client sends.
//!
//! The algorithm is GCRA (a token bucket kept as one timestamp per key: the theoretical arrival
//! time of the next request). A key whose timestamp has passed is the same as an absent key, so
//! such entries are dropped whenever a shard fills up; a shard still full after that drops the
//! entry closest to expiry. State lives in memory, per process: with N replicas each allows the
//! limit. A limiter survives rule reloads as long as its rule id and limit stay the same.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::{PipelineError, RequestInfo};
use crate::config::duration::Duration as ConfigDuration;

const SHARDS: usize = 16;

/// `rate_limit` as written in a rule.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    /// Requests allowed per `per`.
    pub requests: u64,
    /// The period (`1s`, `1m`, `1h`).
    pub per: ConfigDuration,
    /// Requests a key may send at once (default: `requests`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u64>,
    /// What is counted: `subject` (default), `ip`, or `rule` (one budget for everyone).
    #[serde(default)]
    pub by: By,
    /// Keys tracked at most (default 100,000); beyond, the ones closest to expiry are dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_keys: Option<usize>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum By {
    #[default]
    Subject,
    Ip,
    Rule,
}

/// One rule's limiter.
#[derive(Debug)]
pub struct RateLimiter {
    spec: RateLimitSpec,
    /// Nanoseconds between two requests at the sustained rate.
    interval: u64,
    /// How far ahead of now a key's timestamp may run: `burst` intervals.
    tolerance: u64,
    per_shard: usize,
    epoch: Instant,
    hasher: foldhash::fast::RandomState,
    /// Shards in use: fewer than [`SHARDS`] when `max_keys` is smaller.
    used: usize,
    shards: [Mutex<HashMap<u64, u64, foldhash::fast::RandomState>>; SHARDS],
}

/// The longest `per` (a year): time is counted in nanoseconds within 64 bits.
const MAX_PER: Duration = Duration::from_secs(365 * 24 * 3600);

impl RateLimiter {
    /// The limiter for rule `rule_id`: the one already in use when the rule was loaded before
    /// with the same limit (counts survive a reload), else a new one.
    pub fn for_rule(rule_id: &str, spec: &RateLimitSpec) -> Result<Arc<Self>, (String, String)> {
        if spec.requests == 0 {
            return Err(("requests".into(), "must be at least 1".into()));
        }
        if spec.per.get().is_zero() {
            return Err(("per".into(), "must be longer than 0s".into()));
        }
        if spec.per.get() > MAX_PER {
            return Err(("per".into(), "must be at most 8760h (a year)".into()));
        }
        if spec.burst == Some(0) {
            return Err(("burst".into(), "must be at least 1".into()));
        }
        if spec.max_keys == Some(0) {
            return Err(("max_keys".into(), "must be at least 1".into()));
        }
        type Registry = Mutex<HashMap<(String, RateLimitSpec), Weak<RateLimiter>>>;
        static IN_USE: OnceLock<Registry> = OnceLock::new();
        let mut in_use = IN_USE
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        in_use.retain(|_, l| l.strong_count() > 0);
        let key = (rule_id.to_owned(), spec.clone());
        if let Some(l) = in_use.get(&key).and_then(Weak::upgrade) {
            return Ok(l);
        }
        let limiter = Arc::new(Self::new(spec.clone()));
        in_use.insert(key, Arc::downgrade(&limiter));
        Ok(limiter)
    }

    fn new(spec: RateLimitSpec) -> Self {
        let per = u64::try_from(spec.per.get().as_nanos()).unwrap_or(u64::MAX);
        let interval = (per / spec.requests).max(1);
        let burst = spec.burst.unwrap_or(spec.requests);
        let max_keys = spec.max_keys.unwrap_or(100_000);
        let used = max_keys.clamp(1, SHARDS);
        Self {
            interval,
            tolerance: interval.saturating_mul(burst),
            per_shard: max_keys.div_ceil(used).max(1),
            used,
            epoch: Instant::now(),
            hasher: foldhash::fast::RandomState::default(),
            shards: Default::default(),
            spec,
        }
    }

    /// Count one request of this session; `Err` is the 429 when the key is over its limit.
    pub fn check(&self, req: &RequestInfo, subject: &str) -> Result<(), PipelineError> {
        let key = match self.spec.by {
            By::Subject => self.hasher.hash_one(subject),
            By::Ip => self.hasher.hash_one(client_address(req)),
            By::Rule => 0,
        };
        match self.take(key) {
            Ok(()) => Ok(()),
            Err(wait) => Err(self.refusal(wait)),
        }
    }

    /// GCRA: `Err(wait)` when `key` must wait that long before its next request is allowed.
    fn take(&self, key: u64) -> Result<(), Duration> {
        let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let shard = &self.shards[(key % self.used as u64) as usize];
        let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
        let tat = map.get(&key).copied().unwrap_or(now).max(now);
        let next = tat.saturating_add(self.interval);
        if next - now > self.tolerance {
            return Err(Duration::from_nanos(next - now - self.tolerance));
        }
        match map.get_mut(&key) {
            Some(t) => *t = next,
            None => {
                if map.len() >= self.per_shard {
                    map.retain(|_, t| *t > now);
                }
                if map.len() >= self.per_shard {
                    // Room for a batch: the oldest eighth goes (earliest arrival times), so a
                    // flood of new keys pays a scan per `per_shard / 8` keys, not two per key
                    // (which halved throughput).
                    let mut tats: Vec<u64> = map.values().copied().collect();
                    let cut = (tats.len() / 8).max(1);
                    let (_, &mut threshold, _) = tats.select_nth_unstable(cut - 1);
                    // Exactly `cut` entries, all at or before the threshold (ties stay).
                    let mut removed = 0;
                    map.retain(|_, t| {
                        let gone = removed < cut && *t <= threshold;
                        removed += usize::from(gone);
                        !gone
                    });
                }
                map.insert(key, next);
            }
        }
        Ok(())
    }

    fn refusal(&self, wait: Duration) -> PipelineError {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut headers = HeaderMap::new();
        let n = |v: u64| HeaderValue::from(v);
        headers.insert(http::header::RETRY_AFTER, n(secs));
        headers.insert("x-ratelimit-limit", n(self.spec.requests));
        headers.insert("x-ratelimit-remaining", n(0));
        headers.insert("x-ratelimit-reset", n(secs));
        let mut e = PipelineError::too_many_requests(&headers).with_reason(format!(
            "the rule allows {} requests per {} per {}",
            self.spec.requests,
            self.spec.per,
            match self.spec.by {
                By::Subject => "subject",
                By::Ip => "client address",
                By::Rule => "rule",
            }
        ));
        e.keeps_status = true;
        e
    }

    /// Keys tracked now (tests, and the size bound).
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map(|m| m.len()).unwrap_or(0))
            .sum()
    }
}

/// The client address a limit counts (see the module doc): a parsed address, never the text
/// a client sent.
fn client_address(req: &RequestInfo) -> Option<IpAddr> {
    if req.forwarded_trusted {
        let entries = req
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .collect::<Vec<_>>();
        let public = entries.iter().rev().find(|ip| is_public(ip));
        if let Some(ip) = public.or(entries.last()) {
            return Some(*ip);
        }
    }
    req.remote_addr
}

/// Not an address a proxy chain adds on the inside: `realip`'s private ranges (as keto's
/// client address reads them), nor unspecified.
fn is_public(ip: &IpAddr) -> bool {
    !super::authz::is_private(ip) && !ip.is_unspecified()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(requests: u64, per: &str, burst: Option<u64>) -> RateLimitSpec {
        RateLimitSpec {
            requests,
            per: per.parse().expect("duration"),
            burst,
            by: By::Subject,
            max_keys: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn bucket_refills_at_the_sustained_rate() {
        let l = RateLimiter::new(spec(3, "1s", None));
        for _ in 0..3 {
            assert!(l.take(1).is_ok());
        }
        let wait = l.take(1).expect_err("4th in the same instant");
        assert!(
            wait > Duration::from_millis(330) && wait <= Duration::from_millis(334),
            "{wait:?}"
        );
        // Keys are independent.
        assert!(l.take(2).is_ok());
        tokio::time::advance(Duration::from_millis(334)).await;
        assert!(l.take(1).is_ok(), "one interval later, one more");
        assert!(l.take(1).is_err());
        tokio::time::advance(Duration::from_secs(5)).await;
        for _ in 0..3 {
            assert!(l.take(1).is_ok(), "a full bucket after a pause");
        }
        assert!(l.take(1).is_err(), "never more than the burst");
    }

    #[tokio::test(start_paused = true)]
    async fn burst_below_the_rate() {
        let l = RateLimiter::new(spec(60, "1m", Some(1)));
        assert!(l.take(7).is_ok());
        let wait = l.take(7).expect_err("burst 1");
        assert_eq!(wait, Duration::from_secs(1));
        let e = l.refusal(wait);
        assert_eq!(e.status, 429);
        assert_eq!(e.headers["retry-after"], "1");
        assert_eq!(e.headers["x-ratelimit-limit"], "60");
        assert_eq!(e.headers["x-ratelimit-remaining"], "0");
    }

    #[tokio::test(start_paused = true)]
    async fn key_table_is_bounded() {
        let mut s = spec(1, "1h", None);
        s.max_keys = Some(32);
        let l = RateLimiter::new(s);
        for i in 0..1000 {
            assert!(l.take(i).is_ok());
        }
        assert!(l.tracked() <= 32, "{}", l.tracked());
        // Expired entries are the same as absent ones and go first.
        tokio::time::advance(Duration::from_secs(3601)).await;
        assert!(l.take(999).is_ok());
    }

    // A full table makes room in batches (the oldest eighth of a shard), and stays between
    // 7/8 full and full whatever the flood of new keys.
    #[tokio::test(start_paused = true)]
    async fn full_tables_evict_in_batches() {
        let mut s = spec(1, "1h", None);
        s.max_keys = Some(SHARDS * 64);
        let l = RateLimiter::new(s);
        for i in 0..(SHARDS as u64 * 1000) {
            assert!(l.take(i).is_ok());
        }
        let (max, n) = (SHARDS * 64, l.tracked());
        assert!(n <= max && n >= max * 7 / 8 - SHARDS, "{n} of {max}");
    }

    #[tokio::test(start_paused = true)]
    async fn max_keys_is_exact_below_the_shard_count() {
        let mut s = spec(1, "1h", None);
        s.max_keys = Some(1);
        let l = RateLimiter::new(s);
        for k in 0..16 {
            assert!(l.take(k).is_ok());
        }
        assert_eq!(l.tracked(), 1);
    }

    // `by: ip` behind proxies: the right-most public `X-Forwarded-For` address (the one the
    // nearest proxy appended); what a client writes to its left, or in `X-Real-Ip`, is not a
    // key. Untrusted forwarded headers: the peer.
    #[test]
    fn client_address_is_the_right_most_public_forwarded_one() {
        let req = |xff: &[&str], trusted: bool| {
            let mut r = RequestInfo {
                remote_addr: Some(IpAddr::from([10, 0, 0, 1])),
                forwarded_trusted: trusted,
                ..RequestInfo::default()
            };
            for v in xff {
                r.headers
                    .append("x-forwarded-for", v.parse().expect("value"));
            }
            r.headers
                .insert("x-real-ip", "203.0.113.77".parse().expect("value"));
            r
        };
        let ip = |s: &str| Some(s.parse::<IpAddr>().expect("ip"));
        for (xff, want) in [
            (&["203.0.113.5, 198.51.100.9"][..], ip("198.51.100.9")),
            (
                &["203.0.113.5", "198.51.100.9, 10.1.1.1"][..],
                ip("198.51.100.9"),
            ),
            (
                &["garbage, 198.51.100.9, 192.168.0.1"][..],
                ip("198.51.100.9"),
            ),
            (&["10.9.9.9, 172.16.0.1"][..], ip("172.16.0.1")),
            (&[][..], ip("10.0.0.1")),
            (&["not an address"][..], ip("10.0.0.1")),
        ] {
            assert_eq!(client_address(&req(xff, true)), want, "{xff:?}");
        }
        assert_eq!(
            client_address(&req(&["198.51.100.9"], false)),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn invalid_limits_are_refused_and_limiters_are_shared_across_reloads() {
        for (bad, path) in [
            (spec(0, "1s", None), "requests"),
            (spec(1, "0s", None), "per"),
            (spec(5, "10000000h", None), "per"),
            (spec(1, "1s", Some(0)), "burst"),
        ] {
            assert_eq!(RateLimiter::for_rule("r", &bad).expect_err(path).0, path);
        }
        let a = RateLimiter::for_rule("shared", &spec(5, "1s", None)).expect("a");
        let b = RateLimiter::for_rule("shared", &spec(5, "1s", None)).expect("b");
        assert!(Arc::ptr_eq(&a, &b), "same rule, same limit: same counters");
        let c = RateLimiter::for_rule("shared", &spec(6, "1s", None)).expect("c");
        assert!(!Arc::ptr_eq(&a, &c), "a changed limit starts afresh");
    }
}
