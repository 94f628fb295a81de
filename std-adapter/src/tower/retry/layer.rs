use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use fusebox::ConfigError;
use fusebox::backoff::Config;
use fusebox::time::Duration;
use tower_layer::Layer;

use super::RetryService;
use crate::RetryBudget;
use crate::tower::HttpClassifier;

#[derive(Debug)]
pub(super) struct Settings {
    pub schedule: Config,
    pub budget: Option<RetryBudget>,
    pub max_body: u64,
    pub classifier: HttpClassifier,
    pub deadline: Option<Duration>,
    pub telemetry: Option<crate::telemetry::RetryTelemetry>,
    seeds: AtomicU64,
}

impl Settings {
    // A different jitter sequence per request (a shared one would have
    // every client retry in step).
    pub fn seed(&self) -> u64 {
        self.seeds
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
    }
}

/// Retries as a tower layer (see the [module docs](super)); every wrapped
/// service and clone shares the one budget.
///
/// ```
/// use fusebox::backoff::{Config, Jitter};
/// use fusebox::time::Duration;
/// use fusebox_std::RetryBudget;
/// use fusebox_std::tower::RetryLayer;
///
/// let schedule = Config::exponential(Duration::from_millis(50), 2, Duration::from_secs(2))
///     .jitter(Jitter::Full)
///     .max_attempts(3);
/// // Retries at most 20% of recent successes, plus 10 per 10 s.
/// let budget = fusebox::rate::RetryBudget::builder()
///     .percent_can_retry(20)
///     .min_retries_per_sec(10)
///     .ttl(Duration::from_secs(10))
///     .build()?;
/// let budget = RetryBudget::new("upstream", budget)?;
/// // Waits no retry past 10 s (the client's timeout): a refusal that
/// // asks for longer goes back at once.
/// let layer = RetryLayer::new(schedule)?
///     .budget(budget)
///     .deadline(Duration::from_secs(10));
/// # let _ = layer;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct RetryLayer {
    settings: Arc<Settings>,
}

impl RetryLayer {
    /// Retries on `schedule` (checked now), no budget, bodies up to 64 KiB.
    pub fn new(schedule: Config) -> Result<Self, ConfigError> {
        schedule.validate()?;
        Ok(Self {
            settings: Arc::new(Settings {
                schedule,
                budget: None,
                max_body: 64 << 10,
                classifier: HttpClassifier::new(),
                deadline: None,
                telemetry: None,
                seeds: AtomicU64::new(crate::os_seed_u64()),
            }),
        })
    }

    fn with(self, f: impl FnOnce(&mut Settings)) -> Self {
        let s = &*self.settings;
        let mut n = Settings {
            schedule: s.schedule,
            budget: s.budget.clone(),
            max_body: s.max_body,
            classifier: s.classifier,
            deadline: s.deadline,
            telemetry: s.telemetry.clone(),
            seeds: AtomicU64::new(s.seeds.load(Ordering::Relaxed)),
        };
        f(&mut n);
        Self {
            settings: Arc::new(n),
        }
    }

    /// Spend `budget` on retries (shared with whoever else holds it).
    pub fn budget(self, budget: RetryBudget) -> Self {
        self.with(|s| s.budget = Some(budget))
    }

    /// Buffer (and so retry) bodies up to `bytes` long.
    pub fn max_body(self, bytes: u64) -> Self {
        self.with(|s| s.max_body = bytes)
    }

    /// Decide which answers are failures worth a retry (`429` always is).
    pub fn classifier(self, classifier: HttpClassifier) -> Self {
        self.with(|s| s.classifier = classifier)
    }

    /// Wait for no retry that would start later than `deadline` after the
    /// request reached this layer: when the next delay (the schedule's,
    /// raised to the upstream's `Retry-After` or a refusal's exact
    /// `retry_after`) ends past it, the last answer goes back at once,
    /// while the client still waits for it (see the [module
    /// docs](super#retry-after-and-the-deadline)). Set it to the client's
    /// budget, that is the per-request timeout above this layer. It only
    /// decides whether to wait: cutting an attempt short is tower's
    /// `TimeoutLayer`'s work. Without it, only the schedule's
    /// [`max_hint`](fusebox::backoff::Config::max_hint) and total-delay
    /// budget bound the waits.
    pub fn deadline(self, deadline: Duration) -> Self {
        self.with(|s| s.deadline = Some(deadline))
    }

    /// Count every attempt and every retry in `telemetry`'s series
    /// (`fusebox_retry_attempts_total`, `fusebox_retry_retries_total`, label
    /// `name`; feature `metrics`), as the std [`Retry`](crate::Retry)
    /// runner does with [`Retry::telemetry`](crate::Retry::telemetry).
    ///
    /// ```
    /// use fusebox::backoff::Config;
    /// use fusebox::time::Duration;
    /// use fusebox_std::telemetry::RetryTelemetry;
    /// use fusebox_std::tower::RetryLayer;
    ///
    /// let layer = RetryLayer::new(Config::constant(Duration::from_millis(10)).max_attempts(3))?
    ///     .telemetry(RetryTelemetry::new("upstream")?);
    /// # let _ = layer;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn telemetry(self, telemetry: crate::telemetry::RetryTelemetry) -> Self {
        self.with(|s| s.telemetry = Some(telemetry))
    }
}

impl<S> Layer<S> for RetryLayer {
    type Service = RetryService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RetryService {
            inner,
            settings: Arc::clone(&self.settings),
        }
    }
}
