//! Durations as the schema writes them.
//!
//! [`Duration`]: the schema pattern `^[0-9]+(ns|us|ms|s|m|h)$` (one integer, one unit), used by
//! every duration key except two. [`GoDuration`]: Go `time.ParseDuration` syntax (`1h30m`,
//! `1.5s`), used only by `authenticators.jwt.config.jwks_max_wait` / `jwks_ttl` (SPEC §2.9).
//! Both serialize to a canonical string that parses back to the same value (merging needs it).

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Unexpected};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const PATTERN: &str = "a duration matching ^[0-9]+(ns|us|ms|s|m|h)$ (e.g. 5s, 100ms, 15m)";
const GO_EXPECTED: &str = "a Go duration (e.g. 1s, 300ms, 1.5s, 1h30m)";

const UNITS: &[(&str, u128)] = &[
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

fn unit_nanos(unit: &str) -> Option<u128> {
    match unit {
        "µs" | "μs" => Some(1_000),
        _ => UNITS.iter().find(|(u, _)| *u == unit).map(|(_, n)| *n),
    }
}

fn from_nanos(n: u128) -> Option<std::time::Duration> {
    let secs = u64::try_from(n / 1_000_000_000).ok()?;
    // The remainder is < 1e9, so it fits.
    let sub = (n % 1_000_000_000) as u32;
    Some(std::time::Duration::new(secs, sub))
}

/// Writes the largest unit that represents `d` exactly: 120s → `2m`, 1500ms → `1500ms`, 0 → `0s`.
fn canonical(d: std::time::Duration, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let n = d.as_nanos();
    if n == 0 {
        return f.write_str("0s");
    }
    for (unit, size) in UNITS {
        if n % size == 0 {
            return write!(f, "{}{unit}", n / size);
        }
    }
    write!(f, "{n}ns")
}

/// A duration with the schema pattern `^[0-9]+(ns|us|ms|s|m|h)$`; `1.5s` and `1h30m` are rejected.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    /// Whole seconds.
    pub const fn from_secs(s: u64) -> Self {
        Self(std::time::Duration::from_secs(s))
    }

    /// Whole milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Self(std::time::Duration::from_millis(ms))
    }

    /// The std duration.
    pub const fn get(self) -> std::time::Duration {
        self.0
    }
}

impl FromStr for Duration {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let split = s.find(|c: char| !c.is_ascii_digit()).ok_or(())?;
        let (num, unit) = s.split_at(split);
        if num.is_empty() || unit == "µs" || unit == "μs" {
            return Err(());
        }
        let n: u128 = num.parse().map_err(|_| ())?;
        let size = unit_nanos(unit).ok_or(())?;
        from_nanos(n.checked_mul(size).ok_or(())?)
            .map(Self)
            .ok_or(())
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        d.0
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        canonical(self.0, f)
    }
}

impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        canonical(self.0, f)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(DurationVisitor::<false>)
            .map(Duration::from)
    }
}

/// A duration in Go `time.ParseDuration` syntax: a sequence of decimal numbers with optional
/// fraction and a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), or a bare `0`. Negative values are
/// rejected (they mean nothing for a wait or a TTL).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct GoDuration(pub std::time::Duration);

impl GoDuration {
    /// Whole seconds.
    pub const fn from_secs(s: u64) -> Self {
        Self(std::time::Duration::from_secs(s))
    }

    /// The std duration.
    pub const fn get(self) -> std::time::Duration {
        self.0
    }
}

impl FromStr for GoDuration {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let s = s.strip_prefix('+').unwrap_or(s);
        if s == "0" {
            return Ok(Self::default());
        }
        if s.is_empty() {
            return Err(());
        }
        let mut rest = s;
        let mut total: u128 = 0;
        while !rest.is_empty() {
            let int_len = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            let (int, after) = rest.split_at(int_len);
            let (frac, after) = match after.strip_prefix('.') {
                Some(a) => {
                    let l = a.find(|c: char| !c.is_ascii_digit()).unwrap_or(a.len());
                    a.split_at(l)
                }
                None => ("", after),
            };
            if int.is_empty() && frac.is_empty() {
                return Err(());
            }
            let unit_len = after
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(after.len());
            let (unit, after) = after.split_at(unit_len);
            let size = unit_nanos(unit).ok_or(())?;
            let whole: u128 = if int.is_empty() {
                0
            } else {
                int.parse().map_err(|_| ())?
            };
            let mut value = whole.checked_mul(size).ok_or(())?;
            // Fraction digits beyond nanosecond precision cannot matter; cap to avoid overflow.
            let frac = &frac[..frac.len().min(18)];
            if !frac.is_empty() {
                let f: u128 = frac.parse().map_err(|_| ())?;
                value += f * size / 10u128.pow(frac.len() as u32);
            }
            total = total.checked_add(value).ok_or(())?;
            rest = after;
        }
        from_nanos(total).map(Self).ok_or(())
    }
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        canonical(self.0, f)
    }
}

impl fmt::Debug for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        canonical(self.0, f)
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(DurationVisitor::<true>)
    }
}

struct DurationVisitor<const GO: bool>;

impl<'de, const GO: bool> de::Visitor<'de> for DurationVisitor<GO> {
    type Value = GoDuration;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if GO { GO_EXPECTED } else { PATTERN })
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<GoDuration, E> {
        let parsed = if GO {
            s.parse::<GoDuration>().ok()
        } else {
            s.parse::<Duration>().ok().map(|d| GoDuration(d.0))
        };
        parsed.ok_or_else(|| E::invalid_value(Unexpected::Str(s), &self))
    }
}

// `DurationVisitor` yields a `GoDuration`; `Duration::deserialize` converts. Kept as one visitor
// so both types report errors the same way.
impl From<GoDuration> for Duration {
    fn from(d: GoDuration) -> Self {
        Self(d.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration as Std;

    // SPEC §2.9: schema pattern for every duration but the two JWKS keys.
    #[test]
    fn schema_pattern() {
        let cases: &[(&str, Option<Std>)] = &[
            ("5s", Some(Std::from_secs(5))),
            ("100ms", Some(Std::from_millis(100))),
            ("15m", Some(Std::from_secs(900))),
            ("2h", Some(Std::from_secs(7200))),
            ("7us", Some(Std::from_micros(7))),
            ("9ns", Some(Std::from_nanos(9))),
            ("0s", Some(Std::ZERO)),
            ("1.5s", None),
            ("1h30m", None),
            ("5", None),
            ("s", None),
            ("", None),
            ("-1s", None),
            ("5 s", None),
            ("5µs", None),
            ("99999999999999999999999h", None),
        ];
        for (s, want) in cases {
            assert_eq!(s.parse::<Duration>().ok().map(|d| d.0), *want, "{s}");
        }
    }

    // SPEC §2.9: Go syntax for jwks_max_wait / jwks_ttl.
    #[test]
    fn go_syntax() {
        let cases: &[(&str, Option<Std>)] = &[
            ("1h30m", Some(Std::from_secs(5400))),
            ("1.5s", Some(Std::from_millis(1500))),
            ("300ms", Some(Std::from_millis(300))),
            (".5s", Some(Std::from_millis(500))),
            ("1µs", Some(Std::from_micros(1))),
            ("0", Some(Std::ZERO)),
            ("+2s", Some(Std::from_secs(2))),
            ("1h2m3s4ms", Some(Std::from_millis(3_723_004))),
            ("-1s", None),
            ("1", None),
            ("1x", None),
            (".s", None),
            ("", None),
        ];
        for (s, want) in cases {
            assert_eq!(s.parse::<GoDuration>().ok().map(|d| d.0), *want, "{s}");
        }
    }

    #[test]
    fn canonical_round_trip() {
        for s in ["5s", "120s", "100ms", "1500ms", "15m", "0s", "3ns", "61m"] {
            let d: Duration = s.parse().expect("valid");
            let back: Duration = d.to_string().parse().expect("canonical parses");
            assert_eq!(d, back, "{s} -> {d}");
        }
        assert_eq!(Duration::from_secs(120).to_string(), "2m");
        let g: GoDuration = "1.5s".parse().expect("valid");
        assert_eq!(g.to_string(), "1500ms");
    }

    #[test]
    fn serde_error_names_pattern() {
        let err = serde_json::from_value::<Duration>(serde_json::json!("1.5s"))
            .expect_err("rejected")
            .to_string();
        assert!(
            err.contains("\"1.5s\"") && err.contains("^[0-9]+(ns|us|ms|s|m|h)$"),
            "{err}"
        );
        let err = serde_json::from_value::<Duration>(serde_json::json!(5))
            .expect_err("rejected")
            .to_string();
        assert!(err.contains("integer `5`"), "{err}");
    }
}
