//! The latency primitives, restated: [`Window`] keeps every sample of a
//! `LatencyHistogram`'s window exactly (sorted on demand), and
//! [`timeout_formula`] is `AdaptiveTimeout`'s formula in exact arithmetic.
//! `HedgePolicy`'s budget is a `RetryBudget` with requests as deposits:
//! its model is [`crate::rate::Budget`].

const PPM: u128 = 1_000_000;

/// The window as the docs define it: every sample with its slot epoch
/// (`now / ceil(window / (S - 1))`), live while `latest - epoch < S`.
/// Samples above the histogram's range are clamped to `max`.
#[derive(Debug, Clone)]
pub struct Window {
    /// Ticks per slot.
    pub slot: u64,
    /// S, the slots of the ring.
    pub slots: u64,
    /// The largest value the histogram records (`MAX_TICKS`).
    pub max: u64,
    /// The latest slot epoch seen.
    pub latest: u64,
    /// (epoch, value) of every sample.
    pub samples: Vec<(u64, u64)>,
}

impl Window {
    /// The window of `LatencyHistogram::<_, _, slots>::new(window)` for a
    /// valid `window`, recording up to `max` ticks.
    pub fn new(window: u64, slots: usize, max: u64) -> Self {
        let parts = (slots as u64).saturating_sub(1).max(1);
        Window {
            slot: window.div_ceil(parts).max(1),
            slots: slots as u64,
            max,
            latest: 0,
            samples: Vec::new(),
        }
    }

    fn advance(&mut self, now: u64) {
        self.latest = self.latest.max(now / self.slot);
    }

    /// `record(v, now)`.
    pub fn record(&mut self, v: u64, now: u64) {
        self.advance(now);
        self.samples.push((self.latest, v.min(self.max)));
    }

    /// `clear()`: every sample gone (the time seen stays).
    pub fn clear(&mut self) {
        self.samples.clear();
    }

    /// The live samples at `now`, sorted.
    pub fn live(&mut self, now: u64) -> Vec<u64> {
        self.advance(now);
        let mut v: Vec<u64> = self
            .samples
            .iter()
            .filter(|(e, _)| self.latest - e < self.slots)
            .map(|&(_, v)| v)
            .collect();
        v.sort_unstable();
        v
    }

    /// `count(now)`.
    pub fn count(&mut self, now: u64) -> u64 {
        self.live(now).len() as u64
    }

    /// The exact nearest-rank quantile (`q` in ppm, above 10^6 read as
    /// 10^6): the live sample of rank `max(1, ceil(q N / 10^6))`; `None`
    /// when the window is empty.
    pub fn quantile(&mut self, q: u32, now: u64) -> Option<u64> {
        let live = self.live(now);
        if live.is_empty() {
            return None;
        }
        let n = live.len() as u128;
        let q = u128::from(q).min(PPM);
        let rank = (q * n).div_ceil(PPM).max(1) as usize;
        Some(live[rank - 1])
    }
}

/// Whether `got` is within the histogram's bound of the exact `x`:
/// `|got - x| <= x x 2^-P`.
pub fn within_bound(got: u64, x: u64, p: u32) -> bool {
    u128::from(got.abs_diff(x)) << p <= u128::from(x)
}

/// `AdaptiveTimeout`'s formula on a quantile of `x` ticks, exactly:
/// `clamp(x x num / den + margin, min, max)`.
pub fn timeout_formula(
    x: u128,
    (num, den): (u32, u32),
    margin: u64,
    (min, max): (u64, u64),
) -> u64 {
    let v = x * u128::from(num) / u128::from(den.max(1)) + u128::from(margin);
    v.clamp(u128::from(min), u128::from(max)) as u64
}

/// The timeouts an `AdaptiveTimeout` with precision `p` may give for an
/// exact quantile `x`: the formula on the ends of the histogram's bound
/// around `x` (the formula is monotone in its quantile).
pub fn timeout_bounds(
    x: u64,
    p: u32,
    multiplier: (u32, u32),
    margin: u64,
    limits: (u64, u64),
) -> (u64, u64) {
    let x = u128::from(x);
    let err = (x >> p) + 1;
    (
        timeout_formula(x.saturating_sub(err), multiplier, margin, limits),
        timeout_formula(x + err, multiplier, margin, limits),
    )
}
