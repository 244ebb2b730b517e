//! Sprig's float and sequence functions: `addf`… (shopspring/decimal arithmetic, so `addf 0.1
//! 0.2` is `0.3`), `ceil`, `floor`, `round`, `maxf`, `minf`, `seq`, `untilStep`, `toDecimal`,
//! `randInt`. Arguments convert with `cast.ToFloat64` as in Sprig.

use super::format::{sprint_v, Buf};
use super::funcs::{arg, want_int};
use super::sprig_data::to_f64;
use super::value::Value;

type R<'a> = Result<Value<'a>, String>;

/// Largest list or sequence `untilStep`/`seq` build (as `until`).
const MAX_SEQ: i64 = 100_000;

/// An exact decimal `m × 10^e`, enough of shopspring/decimal for Sprig's float arithmetic.
#[derive(Clone, Copy)]
struct Dec {
    m: i128,
    e: i32,
}

impl Dec {
    /// `decimal.NewFromFloat`: the shortest decimal that reads back as `f`.
    fn from_f64(f: f64) -> Result<Dec, String> {
        if !f.is_finite() {
            return Err(format!(
                "Cannot create a Decimal from {}",
                sprint_v(&Value::Float(f))?
            ));
        }
        // `{:e}` is the shortest round-trip form: `-1.25e-7`.
        let s = format!("{f:e}");
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let exp: i32 = exp.parse().map_err(|_| "bad float".to_string())?;
        let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
        let digits = format!("{int}{frac}");
        let m: i128 = digits.parse().map_err(|_| "bad float".to_string())?;
        Ok(Dec {
            m,
            e: exp - frac.len() as i32,
        })
    }

    fn to_f64(self) -> f64 {
        format!("{}e{}", self.m, self.e).parse().unwrap_or(f64::NAN)
    }

    fn pow10(n: i32) -> Option<i128> {
        10i128.checked_pow(u32::try_from(n).ok()?)
    }

    /// Both at the smaller exponent.
    fn align(a: Dec, b: Dec) -> Option<(i128, i128, i32)> {
        let e = a.e.min(b.e);
        Some((
            a.m.checked_mul(Dec::pow10(a.e.checked_sub(e)?)?)?,
            b.m.checked_mul(Dec::pow10(b.e.checked_sub(e)?)?)?,
            e,
        ))
    }

    fn add(a: Dec, b: Dec) -> Option<Dec> {
        let (x, y, e) = Dec::align(a, b)?;
        Some(Dec {
            m: x.checked_add(y)?,
            e,
        })
    }

    fn sub(a: Dec, b: Dec) -> Option<Dec> {
        Dec::add(a, Dec { m: -b.m, e: b.e })
    }

    fn mul(a: Dec, b: Dec) -> Option<Dec> {
        Some(Dec {
            m: a.m.checked_mul(b.m)?,
            e: a.e.checked_add(b.e)?,
        })
    }

    /// `Decimal.Div`: the quotient to 16 decimal places, rounded half away from zero.
    fn div(a: Dec, b: Dec) -> Option<Dec> {
        const PRECISION: i32 = 16;
        let shift = a.e.checked_sub(b.e)?.checked_add(PRECISION)?;
        let (num, den) = if shift < 0 {
            (a.m, b.m.checked_mul(Dec::pow10(shift.checked_neg()?)?)?)
        } else {
            (a.m.checked_mul(Dec::pow10(shift)?)?, b.m)
        };
        let (q, r) = (num / den, num % den);
        let round = r.unsigned_abs().checked_mul(2)? >= den.unsigned_abs();
        let q = match (round, (num < 0) != (den < 0)) {
            (false, _) => q,
            (true, true) => q - 1,
            (true, false) => q + 1,
        };
        Some(Dec {
            m: q,
            e: -PRECISION,
        })
    }
}

#[derive(Clone, Copy)]
pub(super) enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

/// `addf`, `subf`, `mulf`, `divf` (`add1f` is `addf X 1`): fold the arguments with exact decimal
/// arithmetic and return the nearest float64. Operands too far apart for 128 bits fall back to
/// float arithmetic.
pub(super) fn decimal_op<'a>(a: Vec<Value<'a>>, op: Op) -> R<'a> {
    let mut it = a.iter();
    let first = match op {
        Op::Add => 0.0,
        _ => it.next().map(to_f64).unwrap_or(0.0),
    };
    let mut acc = Dec::from_f64(first)?;
    for x in it {
        let f = to_f64(x);
        let d = Dec::from_f64(f)?;
        if matches!(op, Op::Div) && d.m == 0 {
            return Err("decimal division by 0".into());
        }
        let exact = match op {
            Op::Add => Dec::add(acc, d),
            Op::Sub => Dec::sub(acc, d),
            Op::Mul => Dec::mul(acc, d),
            Op::Div => Dec::div(acc, d),
        };
        acc = match exact {
            Some(v) => v,
            None => {
                let x = acc.to_f64();
                let v = match op {
                    Op::Add => x + f,
                    Op::Sub => x - f,
                    Op::Mul => x * f,
                    Op::Div => x / f,
                };
                Dec::from_f64(v)?
            }
        };
    }
    Ok(Value::Float(acc.to_f64()))
}

/// Go's `math.Max`/`math.Min` folded over `maxf`/`minf`'s arguments (NaN wins).
pub(super) fn maxf_minf<'a>(a: Vec<Value<'a>>, max: bool) -> R<'a> {
    let mut it = a.iter().map(to_f64);
    let mut acc = it.next().unwrap_or(0.0);
    for x in it {
        acc = if acc.is_nan() || x.is_nan() {
            f64::NAN
        } else if acc == x {
            // ±0: Max prefers +0, Min prefers -0.
            if max == acc.is_sign_negative() {
                x
            } else {
                acc
            }
        } else if (x > acc) == max {
            x
        } else {
            acc
        };
    }
    Ok(Value::Float(acc))
}

/// Sprig's `round X PLACES [HALF]`: round half up (or at `HALF`) to `PLACES` decimals.
pub(super) fn round<'a>(a: Vec<Value<'a>>) -> R<'a> {
    let mut it = a.into_iter();
    let val = to_f64(&arg(&mut it));
    let places = want_int(&arg(&mut it))? as f64;
    let round_on = it.next().map(|x| to_f64(&x)).unwrap_or(0.5);
    let pow = 10f64.powf(places);
    let digit = pow * val;
    let frac = digit - digit.trunc();
    let r = if frac >= round_on {
        digit.ceil()
    } else {
        digit.floor()
    };
    Ok(Value::Float(r / pow))
}

/// `strconv.ParseInt(fmt.Sprint(v), 8, 64)`, 0 on error.
pub(super) fn to_decimal<'a>(a: Vec<Value<'a>>) -> R<'a> {
    let s = sprint_v(&a[0])?;
    let ok = !s.is_empty() && !s.contains('_');
    Ok(Value::Int(
        ok.then(|| i64::from_str_radix(&s, 8).ok())
            .flatten()
            .unwrap_or(0),
    ))
}

/// Sprig's `untilStep`: `start, start+step, …` up to (not including) `stop`; empty when `step`
/// points away from `stop`.
fn until_step(start: i64, stop: i64, step: i64) -> Result<Vec<i64>, String> {
    if step == 0 || (stop < start) != (step < 0) || stop == start {
        return Ok(Vec::new());
    }
    let span = (i128::from(stop) - i128::from(start)).unsigned_abs();
    let count = span.div_ceil(i128::from(step).unsigned_abs());
    if count > MAX_SEQ as u128 {
        return Err(format!("sequence longer than {MAX_SEQ}"));
    }
    // Every value lies between `start` and `stop`; only the product `i * step` can leave i64.
    Ok((0..count as i64)
        .map(|i| (i128::from(start) + i128::from(i) * i128::from(step)) as i64)
        .collect())
}

pub(super) fn until_step_fn<'a>(a: Vec<Value<'a>>) -> R<'a> {
    let (start, stop, step) = (want_int(&a[0])?, want_int(&a[1])?, want_int(&a[2])?);
    Value::list(
        until_step(start, stop, step)?
            .into_iter()
            .map(Value::Int)
            .collect(),
    )
}

/// Sprig's `seq`: like GNU seq, `seq LAST`, `seq FIRST LAST`, `seq FIRST STEP LAST`, the numbers
/// joined by spaces.
pub(super) fn seq<'a>(a: Vec<Value<'a>>) -> R<'a> {
    let p: Vec<i64> = a.iter().map(want_int).collect::<Result<_, _>>()?;
    let dir = |start: i64, end: i64| if end < start { -1 } else { 1 };
    let nums = match p.as_slice() {
        [end] => {
            let inc = dir(1, *end);
            until_step(1, end.saturating_add(inc), inc)?
        }
        [start, end] => {
            let inc = dir(*start, *end);
            until_step(*start, end.saturating_add(inc), inc)?
        }
        [start, step, end] => {
            let inc = dir(*start, *end);
            if inc < 0 && *step > 0 {
                Vec::new()
            } else {
                until_step(*start, end.saturating_add(inc), *step)?
            }
        }
        _ => Vec::new(),
    };
    let mut b = Buf::default();
    for (i, n) in nums.iter().enumerate() {
        if i > 0 {
            b.push(" ")?;
        }
        b.push(&n.to_string())?;
    }
    Ok(Value::string(b.s))
}

/// `randInt MIN MAX`: uniform in `[MIN, MAX)`.
pub(super) fn rand_int<'a>(a: Vec<Value<'a>>) -> R<'a> {
    let (min, max) = (want_int(&a[0])?, want_int(&a[1])?);
    if max <= min {
        return Err("invalid argument to Intn".into());
    }
    Ok(Value::Int(fastrand::i64(min..max)))
}
