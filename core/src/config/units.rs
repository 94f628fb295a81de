//! Human units for configuration files: durations (`"30s"`), rates
//! (`"100/s"`), percentages (`"50%"`) and growth factors (`"3/2"`).
//!
//! # Durations and the tick rate
//!
//! fusebox's durations count ticks of the rate the *binary* selects
//! (`embassy_time::TICK_HZ`: 1 MHz unless a `tick-hz-*` feature says
//! otherwise). A duration in a file is an unsigned integer, or a decimal with
//! up to 18 digits after the point, followed by a unit (an optional space
//! between): `ns`, `us` (or `µs`), `ms`, `s`, `m` or `min`, `h`, `d`, or
//! `ticks` for raw ticks. It converts exactly:
//!
//! `ticks = value x TICK_HZ x unit / 1 s`
//!
//! computed in 128-bit integers, and loading fails unless that is a whole
//! number of ticks that fits in a `u64`: `"1us"` at a 32 768 Hz tick rate
//! is 0.032768 ticks and is refused (write it in ticks, or choose a coarser
//! duration), never rounded. A duration serializes in the largest unit that
//! states it exactly (`"250ms"`, `"2min"`), and in `ticks` when no unit
//! does, so a value read, written and read again is the same number of
//! ticks. [`parse_duration_at`] and [`DurationTextAt`] do the same at a rate
//! given at run time (a host tool preparing a firmware's file).
//!
//! ```
//! use fusebox::config::units::{parse_duration, DurationText};
//! use fusebox::time::Duration;
//!
//! assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
//! assert_eq!(parse_duration("1.5 s"), Ok(Duration::from_millis(1500)));
//! assert!(parse_duration("30").is_err()); // a unit is required
//! assert_eq!(DurationText(Duration::from_secs(120)).to_string(), "2min");
//! ```
//!
//! # Rates, percentages, factors
//!
//! A rate is `count/period`, the period a duration whose number may be left
//! out when it is 1: `"100/s"`, `"5/250ms"`, `"6000/min"`. A percentage is
//! `"50%"` or the bare integer `50`. A growth factor is an integer (`2`) or
//! a fraction `"num/den"` (`"3/2"`, resilience4j's 1.5). A quantile is
//! `"p99"`, `"p99.9"` or `"99.9%"` (up to 4 decimals: a whole number of
//! parts per million, the unit of [`crate::latency`]), written back as
//! `"p99.9"`.

use core::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::time::Duration;

/// Why a value in human units was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum UnitError {
    /// No number where one was expected.
    Number,
    /// A number without a unit, or with a unit fusebox does not know.
    Unit,
    /// Not a whole number of ticks at the binary's tick rate.
    NotWholeTicks,
    /// More ticks than a `u64` holds (or a count over `u32::MAX`).
    Overflow,
    /// A rate without its `/period`, or a fraction without its `/den`.
    Slash,
    /// A percentage that is not `N%` or a bare integer.
    Percent,
    /// A quantile that is not `pN` or `N%` with at most 4 decimals.
    Quantile,
}

impl fmt::Display for UnitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnitError::Number => "expected a number, e.g. \"30s\", \"100/s\" or \"50%\"",
            UnitError::Unit => {
                "expected a duration with a unit (ns, us, ms, s, m, min, h, d or ticks), e.g. \"30s\" or \"250ms\""
            }
            UnitError::NotWholeTicks => {
                "not a whole number of ticks at this binary's tick rate (embassy-time's TICK_HZ); state it in ticks or as a coarser duration"
            }
            UnitError::Overflow => "too large: the duration exceeds u64::MAX ticks, or a count exceeds u32::MAX",
            UnitError::Slash => "expected `count/period`, e.g. \"100/s\" or \"5/250ms\"",
            UnitError::Percent => "expected a percentage, e.g. \"50%\" or 50",
            UnitError::Quantile => {
                "expected a quantile, e.g. \"p99\", \"p99.9\" or \"99.9%\" (at most 4 decimals: parts per million)"
            }
        })
    }
}

impl core::error::Error for UnitError {}

/// Seconds per unit as a fraction `(num, den)`.
const UNITS: [(&str, u128, u128); 11] = [
    ("ns", 1, 1_000_000_000),
    ("us", 1, 1_000_000),
    ("µs", 1, 1_000_000),
    ("ms", 1, 1_000),
    ("s", 1, 1),
    ("m", 60, 1),
    ("min", 60, 1),
    ("h", 3_600, 1),
    ("d", 86_400, 1),
    ("tick", 0, 0),
    ("ticks", 0, 0),
];

/// The units a duration is written in, largest first (those a
/// [`DurationText`] picks from).
const WRITE_UNITS: [(&str, u128, u128); 7] = [
    ("d", 86_400, 1),
    ("h", 3_600, 1),
    ("min", 60, 1),
    ("s", 1, 1),
    ("ms", 1, 1_000),
    ("us", 1, 1_000_000),
    ("ns", 1, 1_000_000_000),
];

/// `(mantissa, decimals)` of an unsigned decimal: `"1.25"` is `(125, 2)`.
fn parse_decimal(s: &str) -> Result<(u128, u32), UnitError> {
    if s.is_empty() {
        return Err(UnitError::Number);
    }
    let mut mantissa: u128 = 0;
    let mut decimals: Option<u32> = None;
    let mut digits = 0u32;
    for c in s.chars() {
        if c == '.' {
            if decimals.is_some() {
                return Err(UnitError::Number);
            }
            decimals = Some(0);
            continue;
        }
        let d = c.to_digit(10).ok_or(UnitError::Number)?;
        digits = digits.saturating_add(1);
        mantissa = mantissa
            .checked_mul(10)
            .and_then(|m| m.checked_add(u128::from(d)))
            .ok_or(UnitError::Overflow)?;
        if let Some(k) = decimals.as_mut() {
            *k = k.saturating_add(1);
        }
    }
    let decimals = decimals.unwrap_or(0);
    if digits == 0 {
        return Err(UnitError::Number);
    }
    if decimals > 18 {
        return Err(UnitError::NotWholeTicks);
    }
    Ok((mantissa, decimals))
}

/// Parse a duration in human units into ticks of the binary's tick rate,
/// exactly (see the [module docs](self)).
pub fn parse_duration(s: &str) -> Result<Duration, UnitError> {
    parse_duration_at(s, embassy_time::TICK_HZ)
}

/// [`parse_duration`] at another tick rate, `tick_hz` ticks per second: for
/// a host tool that prepares a configuration for a firmware whose rate
/// differs from its own (a 32 768 Hz RTC, say).
pub fn parse_duration_at(s: &str, tick_hz: u64) -> Result<Duration, UnitError> {
    let hz = u128::from(tick_hz);
    let s = s.trim();
    let split = s
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_digit() || c == '.'))
        .map_or(s.len(), |(i, _)| i);
    let (number, unit) = s.split_at_checked(split).ok_or(UnitError::Number)?;
    let unit = unit.trim_start();
    let (mantissa, decimals) = parse_decimal(number)?;
    let &(_, num, den) = UNITS
        .iter()
        .find(|(name, _, _)| *name == unit)
        .ok_or(UnitError::Unit)?;
    // ticks = mantissa / 10^decimals x (hz x num / den), or the mantissa
    // itself in ticks (num = den = 0).
    let scale = 10u128.checked_pow(decimals).ok_or(UnitError::Overflow)?;
    let (top, bottom) = if num == 0 {
        (mantissa, scale)
    } else {
        let top = mantissa
            .checked_mul(hz)
            .and_then(|t| t.checked_mul(num))
            .ok_or(UnitError::Overflow)?;
        (top, den.checked_mul(scale).ok_or(UnitError::Overflow)?)
    };
    let ticks = top.checked_div(bottom).ok_or(UnitError::Unit)?;
    if top.checked_rem(bottom) != Some(0) {
        return Err(UnitError::NotWholeTicks);
    }
    u64::try_from(ticks)
        .map(Duration::from_ticks)
        .map_err(|_| UnitError::Overflow)
}

/// A duration written in the largest unit that states it exactly, or in
/// ticks (`Display`, allocation-free): what serialization writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationText(pub Duration);

/// `(value, unit)` with `value` whole, in the largest unit that states
/// `ticks` exactly; `None` when no unit does (nor zero).
fn in_units(ticks: u64, hz: u128) -> Option<(u128, &'static str)> {
    let ticks = u128::from(ticks);
    WRITE_UNITS.iter().find_map(|&(name, num, den)| {
        // value = ticks x den / (hz x num), when whole.
        let top = ticks.checked_mul(den)?;
        let bottom = hz.checked_mul(num)?;
        if top.checked_rem(bottom)? == 0 {
            Some((top.checked_div(bottom)?, name))
        } else {
            None
        }
    })
}

impl fmt::Display for DurationText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        DurationTextAt(self.0, embassy_time::TICK_HZ).fmt(f)
    }
}

/// [`DurationText`] at another tick rate: `.1` ticks per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationTextAt(pub Duration, pub u64);

impl fmt::Display for DurationTextAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ticks = self.0.as_ticks();
        if ticks == 0 {
            return f.write_str("0s");
        }
        match in_units(ticks, u128::from(self.1)) {
            Some((value, name)) => write!(f, "{value}{name}"),
            None => write!(f, "{ticks}ticks"),
        }
    }
}

/// Write `s` into a serializer as a string, allocation-free.
fn collect<S: Serializer, T: fmt::Display>(serializer: S, value: &T) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// A [`Duration`] in human units in a configuration file (`"30s"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HumanDuration(pub Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        DurationText(self.0).fmt(f)
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        collect(serializer, self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration with a unit, e.g. \"30s\" or \"250ms\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HumanDuration, E> {
                parse_duration(v)
                    .map(HumanDuration)
                    .map_err(|e| E::custom(format_args!("{e}, got \"{v}\"")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<HumanDuration, E> {
                Err(E::custom(format_args!(
                    "a duration needs a unit, e.g. \"{v}s\" or \"{v}ms\", got {v}"
                )))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<HumanDuration, E> {
                Err(E::custom(format_args!(
                    "a duration needs a unit, e.g. \"{v}s\" or \"{v}ms\", got {v}"
                )))
            }
        }
        // A string: formats that forward to `deserialize_any` (TOML, YAML)
        // still reach `visit_u64` above for a bare number, and formats
        // without `deserialize_any` (serde-json-core) read the string.
        deserializer.deserialize_str(V)
    }
}

/// A rate: `count` per `per` (`"100/s"`, `"5/250ms"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Rate {
    /// How many per period.
    pub count: u32,
    /// The period.
    pub per: Duration,
}

/// Parse a rate `count/period` (see the [module docs](self)).
pub fn parse_rate(s: &str) -> Result<Rate, UnitError> {
    parse_rate_at(s, embassy_time::TICK_HZ)
}

/// [`parse_rate`] at another tick rate (see [`parse_duration_at`]).
pub fn parse_rate_at(s: &str, tick_hz: u64) -> Result<Rate, UnitError> {
    let hz = u128::from(tick_hz);
    let (count, per) = s.trim().split_once('/').ok_or(UnitError::Slash)?;
    let (count, decimals) = parse_decimal(count.trim())?;
    if decimals != 0 {
        return Err(UnitError::Number);
    }
    let count = u32::try_from(count).map_err(|_| UnitError::Overflow)?;
    let per = per.trim();
    let per = if per.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        parse_duration_at(per, tick_hz)?
    } else {
        // "/s" is "/1s": a unit alone.
        let &(_, num, den) = UNITS
            .iter()
            .find(|(name, _, _)| *name == per)
            .ok_or(UnitError::Unit)?;
        if num == 0 {
            Duration::from_ticks(1)
        } else {
            let top = hz.checked_mul(num).ok_or(UnitError::Overflow)?;
            if top.checked_rem(den) != Some(0) {
                return Err(UnitError::NotWholeTicks);
            }
            let ticks = top.checked_div(den).ok_or(UnitError::Unit)?;
            Duration::from_ticks(u64::try_from(ticks).map_err(|_| UnitError::Overflow)?)
        }
    };
    Ok(Rate { count, per })
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ticks = self.per.as_ticks();
        match in_units(ticks, u128::from(embassy_time::TICK_HZ)) {
            // "100/s" rather than "100/1s".
            Some((1, name)) => write!(f, "{}/{name}", self.count),
            _ => write!(f, "{}/{}", self.count, DurationText(self.per)),
        }
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        collect(serializer, self)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Rate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a rate, e.g. \"100/s\" or \"5/250ms\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Rate, E> {
                parse_rate(v).map_err(|e| E::custom(format_args!("{e}, got \"{v}\"")))
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// A percentage: `"50%"` or `50` in a file, written back as `"50%"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Percent(pub u16);

impl Percent {
    /// As a `u8`, saturating (a value over 255 is out of every `u8`
    /// percentage's range, and the builder says so).
    pub const fn saturating_u8(self) -> u8 {
        if self.0 > u8::MAX as u16 {
            u8::MAX
        } else {
            self.0 as u8
        }
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

impl Serialize for Percent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        collect(serializer, self)
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Percent;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a percentage, e.g. \"50%\" or 50")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Percent, E> {
                let n = v.trim().strip_suffix('%').ok_or_else(|| {
                    E::custom(format_args!("{}, got \"{v}\"", UnitError::Percent))
                })?;
                match parse_decimal(n.trim()) {
                    Ok((n, 0)) => u16::try_from(n).map(Percent).map_err(|_| {
                        E::custom(format_args!("{}, got \"{v}\"", UnitError::Overflow))
                    }),
                    _ => Err(E::custom(format_args!(
                        "{}, got \"{v}\" (whole percents only)",
                        UnitError::Percent
                    ))),
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Percent, E> {
                u16::try_from(v)
                    .map(Percent)
                    .map_err(|_| E::custom(format_args!("{}, got {v}", UnitError::Overflow)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Percent, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom(format_args!("a percentage is at least 0, got {v}")))
                    .and_then(|v| self.visit_u64(v))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A growth factor `num / den`: `2` or `"3/2"` in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Factor {
    /// Numerator.
    pub num: u32,
    /// Denominator (1 for an integer factor).
    pub den: u32,
}

impl fmt::Display for Factor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.num, self.den)
    }
}

impl Serialize for Factor {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.den == 1 {
            serializer.serialize_u32(self.num)
        } else {
            collect(serializer, self)
        }
    }
}

impl<'de> Deserialize<'de> for Factor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Factor;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a factor, an integer (2) or a fraction (\"3/2\")")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Factor, E> {
                let parts = v.split_once('/').map(|(n, d)| {
                    (
                        parse_decimal(n.trim())
                            .ok()
                            .and_then(|(n, k)| (k == 0).then_some(n)),
                        parse_decimal(d.trim())
                            .ok()
                            .and_then(|(d, k)| (k == 0).then_some(d)),
                    )
                });
                match parts {
                    Some((Some(num), Some(den))) => {
                        match (u32::try_from(num), u32::try_from(den)) {
                            (Ok(num), Ok(den)) => Ok(Factor { num, den }),
                            _ => Err(E::custom(format_args!(
                                "{}, got \"{v}\"",
                                UnitError::Overflow
                            ))),
                        }
                    }
                    _ => Err(E::custom(format_args!(
                        "expected a factor, an integer (2) or a fraction (\"3/2\"), got \"{v}\""
                    ))),
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Factor, E> {
                u32::try_from(v)
                    .map(|num| Factor { num, den: 1 })
                    .map_err(|_| E::custom(format_args!("{}, got {v}", UnitError::Overflow)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Factor, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom(format_args!("a factor is at least 1, got {v}")))
                    .and_then(|v| self.visit_u64(v))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A quantile in parts per million (`990_000` is p99): `"p99"`,
/// `"p99.9"` or `"99.9%"` in a file, written back as `"p99.9"`.
///
/// ```
/// use fusebox::config::units::{Quantile, parse_quantile};
///
/// assert_eq!(parse_quantile("p99.9"), Ok(Quantile(999_000)));
/// assert_eq!(parse_quantile("95%"), Ok(Quantile(950_000)));
/// assert_eq!(Quantile(999_900).to_string(), "p99.99");
/// assert!(parse_quantile("0.99").is_err()); // a fraction is ambiguous: say p99
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Quantile(pub u32);

/// Parse a quantile (see [`Quantile`]); a value over p100 parses, and the
/// configuration's check refuses it with its range.
pub fn parse_quantile(s: &str) -> Result<Quantile, UnitError> {
    let s = s.trim();
    let number = match (s.strip_prefix('p'), s.strip_suffix('%')) {
        (Some(n), None) | (None, Some(n)) => n.trim(),
        _ => return Err(UnitError::Quantile),
    };
    let (mantissa, decimals) = parse_decimal(number).map_err(|e| match e {
        UnitError::Overflow => e,
        _ => UnitError::Quantile,
    })?;
    if decimals > 4 {
        return Err(UnitError::Quantile);
    }
    let ppm = 10u128
        .checked_pow(4u32.saturating_sub(decimals))
        .and_then(|scale| mantissa.checked_mul(scale))
        .ok_or(UnitError::Overflow)?;
    u32::try_from(ppm)
        .map(Quantile)
        .map_err(|_| UnitError::Overflow)
}

impl fmt::Display for Quantile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / 10_000;
        let mut frac = self.0 % 10_000;
        if frac == 0 {
            return write!(f, "p{whole}");
        }
        let mut width: usize = 4;
        while frac.is_multiple_of(10) {
            frac /= 10;
            width = width.saturating_sub(1);
        }
        write!(f, "p{whole}.{frac:0width$}")
    }
}

impl Serialize for Quantile {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        collect(serializer, self)
    }
}

impl<'de> Deserialize<'de> for Quantile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Quantile;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a quantile, e.g. \"p99\" or \"99.9%\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantile, E> {
                parse_quantile(v).map_err(|e| E::custom(format_args!("{e}, got \"{v}\"")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantile, E> {
                Err(E::custom(format_args!("{}, got {v}", UnitError::Quantile)))
            }
        }
        deserializer.deserialize_str(V)
    }
}
