//! The upstream's phase script: what the scripted service does, and when.
//!
//! The format is plain text, one phase a line, `#` starts a comment:
//!
//! ```text
//! # kind     duration  options
//! healthy    2s
//! tail       3s        slow=4% delay=400ms
//! hang       4s
//! fail       3s
//! flap       3s        period=500ms
//! recover    4s
//! ```
//!
//! | kind | the upstream answers |
//! |---|---|
//! | `healthy`, `recover` | `200` after `base` (default 2 ms) |
//! | `tail` | `200`; `slow` percent of answers (default 4%) after `delay` (default 400 ms) instead of `base` |
//! | `hang` | never (the handler sleeps until the caller gives up) |
//! | `fail` | `500` after `base` |
//! | `flap` | `fail` and `healthy` alternating every `period` (default 500 ms), failing first |
//!
//! Durations take `ms` or `s` (`1.5s`). Every kind takes `base=`.

use std::time::Duration;

/// What the upstream does during a phase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Fast `200`s.
    Healthy,
    /// Fast `200`s, `slow_percent` % of them after `delay`.
    Tail { slow_percent: u32, delay: Duration },
    /// No answer at all.
    Hang,
    /// Fast `500`s.
    Fail,
    /// `Fail` and `Healthy` alternating every `period`.
    Flap { period: Duration },
    /// Fast `200`s again (named apart from `Healthy` for the report).
    Recover,
}

/// One line of the script.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    /// The name printed in the report (the kind's keyword).
    pub name: String,
    /// What the upstream does.
    pub kind: Kind,
    /// How long.
    pub duration: Duration,
    /// The latency of an ordinary answer.
    pub base: Duration,
}

/// A phase script: phases in order, from the run's start.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    /// The phases.
    pub phases: Vec<Phase>,
}

/// The demo's default script: about 19 s. The `tail` phase is "The Tail
/// at Scale"'s case: 2 % of answers 20 times the median (10 ms).
pub const DEFAULT: &str = "\
healthy  2s
tail     3s   slow=2% delay=200ms base=10ms
hang     4s
fail     3s
flap     3s   period=500ms
recover  4s
";

/// The integration test's shortened script: about 9 s.
pub const SHORT: &str = "\
healthy  1s
hang     2.5s
fail     1.5s
flap     1.5s  period=400ms
recover  2.5s
";

fn duration(s: &str) -> Option<Duration> {
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else {
        return None;
    };
    let v: f64 = num.parse().ok()?;
    (0.0..3600.0)
        .contains(&v)
        .then(|| Duration::from_secs_f64(v * scale))
}

impl Script {
    /// Parses the text format above; the error names the line and what
    /// was wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut phases = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let at = |msg: String| format!("script line {}: `{}`: {msg}", n + 1, raw.trim());
            let mut words = line.split_whitespace();
            let name = words.next().unwrap_or_default().to_owned();
            let dur = words.next().and_then(duration).ok_or_else(|| {
                at("the second word must be a duration such as `3s` or `500ms`".into())
            })?;
            let (mut slow, mut delay, mut period, mut base) = (
                4,
                Duration::from_millis(400),
                Duration::from_millis(500),
                Duration::from_millis(2),
            );
            for opt in words {
                let (k, v) = opt
                    .split_once('=')
                    .ok_or_else(|| at(format!("`{opt}` is not `option=value`")))?;
                let bad = || at(format!("bad value for `{k}`: `{v}`"));
                match k {
                    "slow" => {
                        slow = v
                            .trim_end_matches('%')
                            .parse()
                            .ok()
                            .filter(|p| *p <= 100)
                            .ok_or_else(bad)?
                    }
                    "delay" => delay = duration(v).ok_or_else(bad)?,
                    "period" => period = duration(v).filter(|d| !d.is_zero()).ok_or_else(bad)?,
                    "base" => base = duration(v).ok_or_else(bad)?,
                    _ => {
                        return Err(at(format!(
                            "unknown option `{k}` (slow, delay, period, base)"
                        )));
                    }
                }
            }
            let kind = match name.as_str() {
                "healthy" => Kind::Healthy,
                "tail" => Kind::Tail {
                    slow_percent: slow,
                    delay,
                },
                "hang" => Kind::Hang,
                "fail" => Kind::Fail,
                "flap" => Kind::Flap { period },
                "recover" => Kind::Recover,
                _ => {
                    return Err(at(format!(
                        "unknown phase `{name}` (healthy, tail, hang, fail, flap, recover)"
                    )));
                }
            };
            phases.push(Phase {
                name,
                kind,
                duration: dur,
                base,
            });
        }
        if phases.is_empty() {
            return Err("the script has no phases: write one a line, e.g. `healthy 3s`".into());
        }
        Ok(Self { phases })
    }

    /// The whole script's length.
    pub fn total(&self) -> Duration {
        self.phases.iter().map(|p| p.duration).sum()
    }

    /// The phase at `t` since the start (the last one after the end) and
    /// when it started.
    pub fn at(&self, t: Duration) -> (usize, Duration) {
        let mut start = Duration::ZERO;
        for (i, p) in self.phases.iter().enumerate() {
            if t < start + p.duration || i + 1 == self.phases.len() {
                return (i, start);
            }
            start += p.duration;
        }
        (0, Duration::ZERO)
    }

    /// When phase `i` starts.
    pub fn start_of(&self, i: usize) -> Duration {
        self.phases[..i].iter().map(|p| p.duration).sum()
    }
}
