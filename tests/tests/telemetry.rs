//! The breaker handle's tracing events and metrics (features `tracing` and
//! `metrics` of fusebox-std) through a scripted timeline on a
//! `ManualClock`: a capturing tracing layer and `metrics-util`'s debugging
//! recorder, both local to the test's thread, so tests run in parallel.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use fusebox::breaker::{Config, ConsecutiveFailures, State};
use fusebox::time::{Duration, Instant};
use fusebox_std::{Breaker, ManualClock};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

/// One captured event: level, message, the other fields as text.
#[derive(Debug, Clone)]
struct Captured {
    level: Level,
    /// The span the event is in, with its `name` field.
    span: Option<(&'static str, String)>,
    /// The other fields of that span.
    span_fields: BTreeMap<String, String>,
    /// The names of the spans the event is in, outermost first.
    scope: Vec<&'static str>,
    message: String,
    fields: BTreeMap<String, String>,
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Captured>>>);

struct Fields<'a>(&'a mut Captured);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.0.message = format!("{value:?}");
        } else {
            self.0
                .fields
                .insert(field.name().to_owned(), format!("{value:?}"));
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .fields
            .insert(field.name().to_owned(), value.to_owned());
    }
}

/// The `name` field of each span and its other fields, kept in the
/// span's extensions.
struct SpanName(String, BTreeMap<String, String>);

impl<S> Layer<S> for Capture
where
    S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let mut c = Captured {
            level: Level::TRACE,
            span: None,
            span_fields: BTreeMap::new(),
            scope: Vec::new(),
            message: String::new(),
            fields: BTreeMap::new(),
        };
        attrs.record(&mut Fields(&mut c));
        if let Some(span) = ctx.span(id) {
            let name = c.fields.remove("name").unwrap_or_default();
            span.extensions_mut().insert(SpanName(name, c.fields));
        }
    }
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let span = ctx.event_span(event);
        let (span_name, span_fields) = span
            .as_ref()
            .and_then(|s| {
                s.extensions()
                    .get::<SpanName>()
                    .map(|n| (n.0.clone(), n.1.clone()))
            })
            .unwrap_or_default();
        let scope = ctx
            .event_scope(event)
            .map(|s| s.from_root().map(|s| s.name()).collect())
            .unwrap_or_default();
        let mut c = Captured {
            span: span.map(|s| (s.name(), span_name)),
            span_fields,
            scope,
            level: *event.metadata().level(),
            message: String::new(),
            fields: BTreeMap::new(),
        };
        event.record(&mut Fields(&mut c));
        self.0.lock().unwrap().push(c);
    }
}

impl Capture {
    fn take(&self) -> Vec<Captured> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// The values of a snapshot, by `name{label=value,...}` (labels sorted).
fn values(s: &Snapshotter) -> BTreeMap<String, DebugValue> {
    s.snapshot()
        .into_vec()
        .into_iter()
        .map(|(k, _, _, v)| {
            let key = k.key();
            let mut labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            (format!("{}{{{}}}", key.name(), labels.join(",")), v)
        })
        .collect()
}

fn counter(v: &BTreeMap<String, DebugValue>, key: &str) -> u64 {
    match v.get(key) {
        Some(DebugValue::Counter(n)) => *n,
        other => panic!("{key}: {other:?} in {v:?}"),
    }
}

fn gauge(v: &BTreeMap<String, DebugValue>, key: &str) -> f64 {
    match v.get(key) {
        Some(DebugValue::Gauge(g)) => g.into_inner(),
        other => panic!("{key}: {other:?} in {v:?}"),
    }
}

fn histogram(v: &BTreeMap<String, DebugValue>, key: &str) -> Vec<f64> {
    match v.get(key) {
        Some(DebugValue::Histogram(h)) => h.iter().map(|x| x.into_inner()).collect(),
        other => panic!("{key}: {other:?} in {v:?}"),
    }
}

const MS: u64 = fusebox_std::TICK_HZ / 1000;

fn ms(n: u64) -> Duration {
    Duration::from_ticks(n * MS)
}

/// A trip, a refusal, a probe and a close: the events and the metrics of
/// each step, with the values the timeline makes.
#[test]
fn a_breaker_trip_in_events_and_metrics() {
    let recorder = DebuggingRecorder::new();
    let snapshots = recorder.snapshotter();
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let clock = ManualClock::new(Instant::from_ticks(0));

    let config = Config::new()
        .open_duration(Duration::from_secs(30))
        .slow_calls(Duration::from_secs(2), 100);
    // The handle registers its series when built, with the recorder in
    // force then; its calls use them wherever they run.
    let breaker = metrics::with_local_recorder(&recorder, || {
        Breaker::builder("payments")
            .unwrap()
            .clock(clock.clone())
            .build(config, ConsecutiveFailures::new(3).unwrap())
            .unwrap()
    });

    tracing::subscriber::with_default(subscriber, || {
        // One quick success, then three failures of 250 ms: the third trips.
        let g = breaker.try_acquire().unwrap();
        clock.advance(ms(100));
        assert_eq!(g.success(), None);
        for _ in 0..3 {
            let g = breaker.try_acquire().unwrap();
            clock.advance(ms(250));
            g.failure();
        }
        assert_eq!(breaker.state(), State::Open);
        let events = capture.take();
        assert_eq!(events.len(), 1, "{events:?}");
        let trip = &events[0];
        assert_eq!(trip.level, Level::WARN);
        assert_eq!(
            trip.message,
            "payments Closed -> Open: tripped, 3 of 4 calls failed, 0 slow"
        );
        let f = |k: &str| trip.fields.get(k).map(String::as_str);
        assert_eq!(f("name"), Some("payments"));
        assert_eq!(f("from"), Some("Closed"));
        assert_eq!(f("to"), Some("Open"));
        assert_eq!(f("reason"), Some("tripped"));
        assert_eq!(f("retry_after_s"), Some("30.0"));
        assert_eq!(f("failures"), Some("3"));
        assert_eq!(f("calls"), Some("4"));
        assert_eq!(f("slow"), Some("0"));
        assert_eq!(f("trips"), Some("1"));

        let v = values(&snapshots);
        let n = "name=payments";
        assert_eq!(
            counter(&v, &format!("fusebox_breaker_calls_admitted_total{{{n}}}")),
            4
        );
        assert_eq!(
            counter(
                &v,
                &format!("fusebox_breaker_calls_successful_total{{{n}}}")
            ),
            1
        );
        assert_eq!(
            counter(&v, &format!("fusebox_breaker_calls_failed_total{{{n}}}")),
            3
        );
        assert_eq!(
            counter(&v, &format!("fusebox_breaker_calls_slow_total{{{n}}}")),
            0
        );
        assert_eq!(
            counter(
                &v,
                &format!("fusebox_breaker_transitions_total{{{n},to=open}}")
            ),
            1
        );
        assert_eq!(
            gauge(&v, &format!("fusebox_breaker_state{{{n},state=open}}")),
            1.0
        );
        assert_eq!(
            gauge(&v, &format!("fusebox_breaker_state{{{n},state=closed}}")),
            0.0
        );
        assert_eq!(
            histogram(&v, &format!("fusebox_breaker_call_duration_seconds{{{n}}}")),
            [0.1, 0.25, 0.25, 0.25]
        );

        // Half a second later: refused, a DEBUG event with the wait.
        clock.advance(ms(500));
        let refused = breaker.try_acquire().unwrap_err();
        assert_eq!(refused.state, State::Open);
        let events = capture.take();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].level, Level::DEBUG);
        assert_eq!(
            events[0].message,
            "payments refused by the breaker: Open, retry after 29.5 s"
        );
        assert_eq!(events[0].fields["state"], "Open");
        assert_eq!(events[0].fields["retry_after_s"], "29.5");
        let v = values(&snapshots);
        assert_eq!(
            counter(
                &v,
                &format!("fusebox_breaker_calls_rejected_total{{{n},reason=open}}")
            ),
            1
        );
        assert_eq!(
            counter(&v, &format!("fusebox_breaker_calls_admitted_total{{{n}}}")),
            0
        );

        // The open duration over: a probe (INFO). It succeeds but takes
        // 3 s, and ConsecutiveFailures counts a slow call as a failure: the
        // breaker reopens (WARN). The next probe, quick, closes it.
        clock.advance(Duration::from_secs(30));
        let probe = breaker.try_acquire().unwrap();
        clock.advance(Duration::from_secs(3));
        probe.success();
        assert_eq!(breaker.state(), State::Open);
        clock.advance(Duration::from_secs(30));
        let probe = breaker.try_acquire().unwrap();
        clock.advance(ms(10));
        probe.success();
        assert_eq!(breaker.state(), State::Closed);

        let events = capture.take();
        let lines: Vec<(Level, &str)> = events
            .iter()
            .map(|e| (e.level, e.message.as_str()))
            .collect();
        assert_eq!(
            lines,
            [
                (
                    Level::INFO,
                    "payments Open -> HalfOpen: probing, 3 of 4 calls failed, 0 slow"
                ),
                (
                    Level::WARN,
                    "payments HalfOpen -> Open: probe failed, 3 of 5 calls failed, 1 slow"
                ),
                (
                    Level::INFO,
                    "payments Open -> HalfOpen: probing, 3 of 5 calls failed, 1 slow"
                ),
                (
                    Level::INFO,
                    "payments HalfOpen -> Closed: probes passed, 3 of 6 calls failed, 1 slow"
                ),
            ]
        );
        let v = values(&snapshots);
        assert_eq!(
            counter(&v, &format!("fusebox_breaker_calls_slow_total{{{n}}}")),
            1
        );
        assert_eq!(
            counter(
                &v,
                &format!("fusebox_breaker_calls_successful_total{{{n}}}")
            ),
            2
        );
        assert_eq!(
            counter(
                &v,
                &format!("fusebox_breaker_transitions_total{{{n},to=half_open}}")
            ),
            2
        );
        assert_eq!(
            counter(
                &v,
                &format!("fusebox_breaker_transitions_total{{{n},to=closed}}")
            ),
            1
        );
        assert_eq!(
            gauge(&v, &format!("fusebox_breaker_state{{{n},state=closed}}")),
            1.0
        );
        assert_eq!(
            histogram(&v, &format!("fusebox_breaker_call_duration_seconds{{{n}}}")),
            [3.0, 0.01]
        );
    });
}

/// A refusal while isolated has no wait: the event says so, and the
/// counter has its own reason.
#[test]
fn an_isolated_breaker_refuses_with_reason_forced_open() {
    let recorder = DebuggingRecorder::new();
    let snapshots = recorder.snapshotter();
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let breaker = metrics::with_local_recorder(&recorder, || {
        Breaker::builder("db")
            .unwrap()
            .clock(ManualClock::new(Instant::from_ticks(0)))
            .build(Config::new(), ConsecutiveFailures::new(1).unwrap())
            .unwrap()
    });
    tracing::subscriber::with_default(subscriber, || {
        breaker.isolate();
        assert!(breaker.try_acquire().is_err());
        breaker.reset();
    });
    let events = capture.take();
    let lines: Vec<(Level, &str)> = events
        .iter()
        .map(|e| (e.level, e.message.as_str()))
        .collect();
    assert_eq!(
        lines,
        [
            (
                Level::WARN,
                "db Closed -> ForcedOpen: isolated, 0 of 0 calls failed, 0 slow"
            ),
            (Level::DEBUG, "db refused by the breaker: ForcedOpen"),
            (
                Level::INFO,
                "db ForcedOpen -> Closed: released, 0 of 0 calls failed, 0 slow"
            ),
        ]
    );
    assert!(!events[1].fields.contains_key("retry_after_s"));
    assert!(!events[0].fields.contains_key("retry_after_s"));
    let v = values(&snapshots);
    assert_eq!(
        counter(
            &v,
            "fusebox_breaker_calls_rejected_total{name=db,reason=forced_open}"
        ),
        1
    );
    assert_eq!(
        counter(
            &v,
            "fusebox_breaker_transitions_total{name=db,to=forced_open}"
        ),
        1
    );
}

/// The rate limiter: admissions, refusals by reason (with the wait), and
/// the tokens left.
#[test]
fn a_rate_limiter_in_events_and_metrics() {
    use fusebox::rate::Quota;
    use fusebox_std::RateLimiter;

    let recorder = DebuggingRecorder::new();
    let snapshots = recorder.snapshotter();
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let clock = ManualClock::new(Instant::from_ticks(0));
    // One token a second, a burst of 2.
    let quota = Quota::per_second(1).allow_burst(2).build().unwrap();
    let limiter = metrics::with_local_recorder(&recorder, || {
        RateLimiter::with_clock("search", quota, clock.clone()).unwrap()
    });
    tracing::subscriber::with_default(subscriber, || {
        limiter.try_acquire().unwrap();
        clock.advance(ms(250));
        limiter.try_acquire().unwrap();
        assert!(limiter.try_acquire().is_err());
        assert!(limiter.try_acquire_n(3).is_err());
    });
    let events = capture.take();
    let lines: Vec<(Level, &str)> = events
        .iter()
        .map(|e| (e.level, e.message.as_str()))
        .collect();
    assert_eq!(
        lines,
        [
            (
                Level::DEBUG,
                "rate limiter search refused a call: rate_limited, retry after 0.75 s"
            ),
            (
                Level::DEBUG,
                "rate limiter search refused a call: exceeds_burst"
            ),
        ]
    );
    assert_eq!(events[0].fields["retry_after_s"], "0.75");
    assert_eq!(events[0].fields["name"], "search");
    let v = values(&snapshots);
    let n = "name=search";
    assert_eq!(
        counter(
            &v,
            &format!("fusebox_rate_limiter_calls_admitted_total{{{n}}}")
        ),
        2
    );
    assert_eq!(
        counter(
            &v,
            &format!("fusebox_rate_limiter_calls_rejected_total{{{n},reason=rate_limited}}")
        ),
        1
    );
    assert_eq!(
        counter(
            &v,
            &format!("fusebox_rate_limiter_calls_rejected_total{{{n},reason=exceeds_burst}}")
        ),
        1
    );
    // After the second admission: 0.25 s refilled a quarter token, none
    // whole.
    assert_eq!(
        gauge(&v, &format!("fusebox_rate_limiter_tokens{{{n}}}")),
        0.0
    );
}

/// The bulkhead: in flight, a refusal when full, the wait queue's length,
/// a refusal when the queue is full and one when the wait times out.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_bulkhead_in_events_and_metrics() {
    use fusebox_std::{AcquireError, Bulkhead};

    let recorder = DebuggingRecorder::new();
    let snapshots = recorder.snapshotter();
    let capture = Capture::default();
    let _events =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(capture.clone()));
    let pool = metrics::with_local_recorder(&recorder, || {
        Bulkhead::new("db", 2, 1, Duration::from_millis(100)).unwrap()
    });
    let n = "name=db";
    let a = pool.try_acquire().unwrap();
    let b = pool.try_acquire().unwrap();
    let v = values(&snapshots);
    assert_eq!(
        gauge(&v, &format!("fusebox_bulkhead_in_flight{{{n}}}")),
        2.0
    );
    assert_eq!(
        counter(&v, &format!("fusebox_bulkhead_calls_admitted_total{{{n}}}")),
        2
    );
    assert!(pool.try_acquire().is_err());
    drop(b);
    let v = values(&snapshots);
    assert_eq!(
        gauge(&v, &format!("fusebox_bulkhead_in_flight{{{n}}}")),
        1.0
    );
    assert_eq!(
        counter(
            &v,
            &format!("fusebox_bulkhead_calls_rejected_total{{{n},reason=full}}")
        ),
        1
    );

    let _b = pool.try_acquire().unwrap();
    // One waiter fits the queue; a second is refused at once; the first
    // times out after 100 ms.
    let waiter = pool.acquire();
    let mut waiter = std::pin::pin!(waiter);
    assert!(futures_poll(waiter.as_mut()).is_pending());
    let v = values(&snapshots);
    assert_eq!(
        gauge(&v, &format!("fusebox_bulkhead_queue_length{{{n}}}")),
        1.0
    );
    assert!(matches!(
        pool.acquire().await,
        Err(AcquireError::QueueFull { .. })
    ));
    assert!(matches!(waiter.await, Err(AcquireError::TimedOut { .. })));
    drop(a);
    let v = values(&snapshots);
    assert_eq!(
        gauge(&v, &format!("fusebox_bulkhead_queue_length{{{n}}}")),
        0.0
    );
    assert_eq!(
        counter(
            &v,
            &format!("fusebox_bulkhead_calls_rejected_total{{{n},reason=queue_full}}")
        ),
        1
    );
    assert_eq!(
        counter(
            &v,
            &format!("fusebox_bulkhead_calls_rejected_total{{{n},reason=timed_out}}")
        ),
        1
    );
    let lines: Vec<String> = capture.take().into_iter().map(|e| e.message).collect();
    assert_eq!(
        lines,
        [
            "bulkhead db refused a call: full",
            "bulkhead db refused a call: queue_full",
            "bulkhead db refused a call: timed_out",
        ]
    );
}

/// Poll once with a waker that does nothing.
fn futures_poll<F: std::future::Future>(f: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
    f.poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
}

/// The adaptive limiter: its limit as a gauge and a DEBUG event per change.
#[test]
fn an_adaptive_limit_in_events_and_metrics() {
    use fusebox::bulkhead::{AimdConfig, Outcome};
    use fusebox_std::{AdaptiveLimiter, Hooks};

    let recorder = DebuggingRecorder::new();
    let snapshots = recorder.snapshotter();
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let clock = ManualClock::new(Instant::from_ticks(0));
    let limiter = metrics::with_local_recorder(&recorder, || {
        AdaptiveLimiter::with_clock(
            "upstream",
            AimdConfig::new().limits(1, 50).initial(10),
            clock.clone(),
            Hooks::new(),
        )
        .unwrap()
    });
    let v = values(&snapshots);
    assert_eq!(
        gauge(&v, "fusebox_adaptive_limiter_limit{name=upstream}"),
        10.0
    );
    tracing::subscriber::with_default(subscriber, || {
        let p = limiter.try_acquire().unwrap();
        let change = p.record(Outcome::Dropped).expect("a drop cuts the limit");
        let v = values(&snapshots);
        assert_eq!(
            gauge(&v, "fusebox_adaptive_limiter_limit{name=upstream}"),
            f64::from(change.to)
        );
        assert_eq!(
            counter(
                &v,
                "fusebox_adaptive_limiter_calls_admitted_total{name=upstream}"
            ),
            1
        );
        assert_eq!(
            gauge(&v, "fusebox_adaptive_limiter_in_flight{name=upstream}"),
            0.0
        );
        let events = capture.take();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(
            events[0].message,
            format!("adaptive limiter upstream limit 10 -> {}", change.to)
        );
    });
}

/// `Breaker::call` runs its future in a DEBUG span `call` with the
/// breaker's name: what the call logs is in it.
#[test]
fn a_breaker_call_runs_in_a_span() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let breaker = Breaker::builder("inventory")
        .unwrap()
        .clock(ManualClock::new(Instant::from_ticks(0)))
        .build(Config::new(), ConsecutiveFailures::new(1).unwrap())
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        let call = breaker.call(async {
            tracing::info!("upstream answered");
            Ok::<_, ()>(7)
        });
        let call = std::pin::pin!(call);
        assert_eq!(futures_poll(call), std::task::Poll::Ready(Ok(7)));
        tracing::info!("outside");
    });
    let events = capture.take();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].message, "upstream answered");
    assert_eq!(events[0].span, Some(("call", "inventory".to_owned())));
    assert_eq!(events[1].span, None);
}

/// A retry run is in a span `retry` with the runner's name, each attempt
/// in a span `attempt` with its number and the delay slept before it; the
/// runner counts its attempts and retries.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_retry_run_is_in_spans_per_attempt_and_counts_retries() {
    use fusebox::backoff::{Backoff, Config as BackoffConfig};
    use fusebox_std::telemetry::RetryTelemetry;

    let recorder = DebuggingRecorder::new();
    let snapshots = recorder.snapshotter();
    let capture = Capture::default();
    let _events =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(capture.clone()));
    let telemetry =
        metrics::with_local_recorder(&recorder, || RetryTelemetry::new("inventory").unwrap());
    // 200 ms, then 400 ms, then 800 ms (exponential, no jitter).
    let schedule = || {
        Backoff::new(
            BackoffConfig::exponential(Duration::from_millis(200), 2, Duration::from_secs(5))
                .max_attempts(5),
            1,
        )
        .unwrap()
    };
    let value = fusebox_std::Retry::new(schedule())
        .clock(fusebox_std::TokioClock::new())
        .telemetry(&telemetry)
        .run(
            async |attempt| {
                tracing::info!(attempt, "attempt made");
                if attempt < 3 {
                    Err("busy")
                } else {
                    Ok(attempt)
                }
            },
            |_| fusebox::retry::Verdict::Retry,
        )
        .await
        .unwrap();
    assert_eq!(value, 3);
    tracing::info!("after");
    let events = capture.take();
    let seen: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e.scope.clone(),
                e.span_fields.get("attempt").cloned(),
                e.span_fields.get("slept_s").cloned(),
                e.fields.get("attempt").cloned(),
            )
        })
        .collect();
    let s = |x: &str| Some(x.to_owned());
    assert_eq!(
        seen,
        [
            (vec!["retry", "attempt"], s("1"), s("0.0"), s("1")),
            (vec!["retry", "attempt"], s("2"), s("0.2"), s("2")),
            (vec!["retry", "attempt"], s("3"), s("0.4"), s("3")),
            (vec![], None, None, None),
        ]
    );
    // The attempt span's parent is the run's, named.
    let v = values(&snapshots);
    assert_eq!(
        counter(&v, "fusebox_retry_attempts_total{name=inventory}"),
        3
    );
    assert_eq!(
        counter(&v, "fusebox_retry_retries_total{name=inventory}"),
        2
    );

    // A second run that gives up after 2 attempts adds to the same series.
    let r = fusebox_std::Retry::new(schedule())
        .clock(fusebox_std::TokioClock::new())
        .telemetry(&telemetry)
        .run(
            async |attempt| {
                if attempt < 2 {
                    Err::<u32, _>("busy")
                } else {
                    Err("gone")
                }
            },
            |e| {
                if *e == "gone" {
                    fusebox::retry::Verdict::Permanent
                } else {
                    fusebox::retry::Verdict::Retry
                }
            },
        )
        .await;
    assert!(r.is_err());
    let v = values(&snapshots);
    assert_eq!(
        counter(&v, "fusebox_retry_attempts_total{name=inventory}"),
        2
    );
    assert_eq!(
        counter(&v, "fusebox_retry_retries_total{name=inventory}"),
        1
    );
}

/// The run's span carries the runner's name; a run without telemetry is
/// in an unnamed span and its attempts in theirs.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_retry_run_names_its_span() {
    use fusebox::backoff::{Backoff, Config as BackoffConfig};
    use fusebox_std::telemetry::RetryTelemetry;

    let capture = Capture::default();
    let _events = tracing::subscriber::set_default(
        tracing_subscriber::registry()
            .with(capture.clone())
            .with(RunName),
    );
    let telemetry = RetryTelemetry::new("ledger").unwrap();
    for t in [Some(&telemetry), None] {
        let schedule = Backoff::new(BackoffConfig::constant(Duration::from_millis(5)), 1).unwrap();
        let mut retry = fusebox_std::Retry::new(schedule).clock(fusebox_std::TokioClock::new());
        if let Some(t) = t {
            retry = retry.telemetry(t);
        }
        let value = retry
            .run(
                async |attempt| {
                    tracing::info!("in attempt");
                    Ok::<_, ()>(attempt)
                },
                |_| fusebox::retry::Verdict::Retry,
            )
            .await
            .unwrap();
        assert_eq!(value, 1);
    }
    let events = capture.take();
    assert_eq!(events.len(), 2, "{events:?}");
    for e in &events {
        assert_eq!(e.scope, ["retry", "attempt"]);
        assert_eq!(e.span_fields.get("attempt").map(String::as_str), Some("1"));
    }
    assert_eq!(
        *RUN_NAMES.lock().unwrap(),
        [Some("ledger".to_owned()), None]
    );
}

static RUN_NAMES: Mutex<Vec<Option<String>>> = Mutex::new(Vec::new());

/// Keeps the `name` of every `retry` span made (in [`RUN_NAMES`]).
#[derive(Default)]
struct RunName;

impl<S: Subscriber> Layer<S> for RunName {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: Context<'_, S>,
    ) {
        if attrs.metadata().name() == "retry" {
            let mut c = Captured {
                level: Level::TRACE,
                span: None,
                span_fields: BTreeMap::new(),
                scope: Vec::new(),
                message: String::new(),
                fields: BTreeMap::new(),
            };
            attrs.record(&mut Fields(&mut c));
            RUN_NAMES.lock().unwrap().push(c.fields.remove("name"));
        }
    }
}

/// A retry run with a breaker, a budget and telemetry is `Send`: it can
/// be spawned on a multi-threaded runtime.
#[test]
fn a_retry_run_with_telemetry_can_be_spawned() {
    use fusebox::backoff::{Backoff, Config as BackoffConfig};
    use fusebox_std::telemetry::RetryTelemetry;
    use fusebox_std::{RetryBudget, TokioClock};

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let telemetry = RetryTelemetry::new("spawned").unwrap();
    let breaker = Breaker::builder("spawned")
        .unwrap()
        .clock(TokioClock::new())
        .build(Config::new(), ConsecutiveFailures::new(5).unwrap())
        .unwrap();
    let budget = RetryBudget::<10, _>::with_clock(
        "spawned",
        fusebox::rate::RetryBudget::builder()
            .percent_can_retry(20)
            .min_retries_per_sec(3)
            .ttl(Duration::from_secs(10))
            .build()
            .unwrap(),
        TokioClock::new(),
    )
    .unwrap();
    let task = rt.spawn(async move {
        let schedule = Backoff::new(
            BackoffConfig::constant(Duration::from_millis(1)).max_attempts(4),
            1,
        )
        .unwrap();
        fusebox_std::Retry::new(schedule)
            .breaker(&breaker)
            .budget(&budget)
            .telemetry(&telemetry)
            .run(
                async |attempt| {
                    tokio::task::yield_now().await;
                    if attempt < 2 {
                        Err("busy")
                    } else {
                        Ok(attempt)
                    }
                },
                |_| fusebox::retry::Verdict::Retry,
            )
            .await
    });
    assert_eq!(rt.block_on(task).unwrap(), Ok(2));
}

/// A named `Singleflight` counts its runs and the callers coalesced into
/// another's run, and reports a refusal (a DEBUG event and a counter by
/// reason).
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_singleflight_counts_runs_and_coalesced_callers() {
    use fusebox_std::Singleflight;
    use fusebox_std::singleflight::{FlightError, WhenFull};

    let recorder = DebuggingRecorder::new();
    let snapshots = recorder.snapshotter();
    let capture = Capture::default();
    let _events =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(capture.clone()));
    let flights: Singleflight<u32, u32> = metrics::with_local_recorder(&recorder, || {
        Singleflight::new(1)
            .when_full(WhenFull::Reject)
            .name("users")
            .unwrap()
    });
    let slow = |v| async move {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        v
    };
    // Three callers of key 1: one run, two coalesced; key 2 meanwhile is
    // refused (one key in flight at most).
    let (a, b, c, d) = tokio::join!(
        flights.run(1, || slow(7)),
        flights.run(1, || slow(8)),
        flights.run(1, || slow(9)),
        flights.run(2, || slow(10)),
    );
    assert_eq!((a, b, c, d), (Ok(7), Ok(7), Ok(7), Err(FlightError::Full)));
    // Alone, later: a run.
    assert_eq!(flights.run(2, || slow(11)).await, Ok(11));
    let v = values(&snapshots);
    assert_eq!(
        counter(&v, "fusebox_singleflight_runs_total{name=users}"),
        2
    );
    assert_eq!(
        counter(&v, "fusebox_singleflight_calls_coalesced_total{name=users}"),
        2
    );
    assert_eq!(
        counter(
            &v,
            "fusebox_singleflight_calls_rejected_total{name=users,reason=full}"
        ),
        1
    );
    assert_eq!(
        counter(
            &v,
            "fusebox_singleflight_calls_rejected_total{name=users,reason=leader_dropped}"
        ),
        0
    );
    let events = capture.take();
    let lines: Vec<(Level, &str)> = events
        .iter()
        .map(|e| (e.level, e.message.as_str()))
        .collect();
    assert_eq!(
        lines,
        [(Level::DEBUG, "singleflight users refused a call: full")]
    );
    assert_eq!(events[0].fields["reason"], "full");
}

/// The keyed limiter: admissions, refusals by reason (the key's wait, a
/// full table, a request over the burst).
#[test]
fn a_keyed_limiter_in_events_and_metrics() {
    use fusebox::rate::{Quota, WhenFull};
    use fusebox_std::KeyedLimiter;

    let recorder = DebuggingRecorder::new();
    let snapshots = recorder.snapshotter();
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let clock = ManualClock::new(Instant::from_ticks(0));
    // One token a second, a burst of 1; two keys at most, new keys refused.
    let quota = Quota::per_second(1).build().unwrap();
    let limiter = metrics::with_local_recorder(&recorder, || {
        KeyedLimiter::<u32, 2, _>::with_clock("clients", quota, WhenFull::RejectNew, clock.clone())
            .unwrap()
    });
    tracing::subscriber::with_default(subscriber, || {
        limiter.try_acquire(1).unwrap();
        limiter.try_acquire(2).unwrap();
        clock.advance(ms(400));
        assert!(limiter.try_acquire(1).is_err());
        assert!(limiter.try_acquire(3).is_err());
        assert!(limiter.try_acquire_n(2, 2).is_err());
    });
    let events = capture.take();
    let lines: Vec<(Level, &str)> = events
        .iter()
        .map(|e| (e.level, e.message.as_str()))
        .collect();
    assert_eq!(
        lines,
        [
            (
                Level::DEBUG,
                "keyed limiter clients refused a call: rate_limited, retry after 0.6 s"
            ),
            (
                Level::DEBUG,
                "keyed limiter clients refused a call: table_full"
            ),
            (
                Level::DEBUG,
                "keyed limiter clients refused a call: exceeds_burst"
            ),
        ]
    );
    assert_eq!(events[0].fields["retry_after_s"], "0.6");
    assert_eq!(events[1].fields["reason"], "table_full");
    let v = values(&snapshots);
    let n = "name=clients";
    assert_eq!(
        counter(
            &v,
            &format!("fusebox_keyed_limiter_calls_admitted_total{{{n}}}")
        ),
        2
    );
    for reason in ["rate_limited", "table_full", "exceeds_burst"] {
        assert_eq!(
            counter(
                &v,
                &format!("fusebox_keyed_limiter_calls_rejected_total{{{n},reason={reason}}}")
            ),
            1,
            "{reason}"
        );
    }
}

/// The retry budget: retries admitted and refused, deposits, and the
/// tokens left.
#[test]
fn a_retry_budget_in_events_and_metrics() {
    use fusebox_std::RetryBudget;

    let recorder = DebuggingRecorder::new();
    let snapshots = recorder.snapshotter();
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let clock = ManualClock::new(Instant::from_ticks(0));
    // 50 % of the successes, no floor (a floor of 0 per second).
    let budget = metrics::with_local_recorder(&recorder, || {
        RetryBudget::<10, _>::with_clock(
            "ledger",
            fusebox::rate::RetryBudget::builder()
                .percent_can_retry(50)
                .min_retries_per_sec(0)
                .ttl(Duration::from_secs(10))
                .build()
                .unwrap(),
            clock.clone(),
        )
        .unwrap()
    });
    tracing::subscriber::with_default(subscriber, || {
        for _ in 0..4 {
            budget.deposit();
        }
        // (A snapshot of the debugging recorder takes the counters' values
        // since the last one.)
        let v = values(&snapshots);
        assert_eq!(gauge(&v, "fusebox_retry_budget_tokens{name=ledger}"), 2.0);
        assert_eq!(
            counter(&v, "fusebox_retry_budget_deposits_total{name=ledger}"),
            4
        );
        assert!(budget.try_withdraw());
        assert!(budget.try_withdraw());
        assert!(!budget.try_withdraw());
    });
    let events = capture.take();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].level, Level::DEBUG);
    assert_eq!(
        events[0].message,
        "retry budget ledger refused a retry: exhausted"
    );
    let v = values(&snapshots);
    let n = "name=ledger";
    assert_eq!(
        counter(&v, &format!("fusebox_retry_budget_deposits_total{{{n}}}")),
        0
    );
    assert_eq!(
        counter(
            &v,
            &format!("fusebox_retry_budget_retries_admitted_total{{{n}}}")
        ),
        2
    );
    assert_eq!(
        counter(
            &v,
            &format!("fusebox_retry_budget_retries_rejected_total{{{n},reason=exhausted}}")
        ),
        1
    );
    assert_eq!(
        gauge(&v, &format!("fusebox_retry_budget_tokens{{{n}}}")),
        0.0
    );
}

/// The concurrency retry budget through the retry runner: requests and
/// retries in flight as gauges, a refused retry counted and logged.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_concurrent_retry_budget_in_events_and_metrics() {
    use fusebox::backoff::{Backoff, Config as BackoffConfig};
    use fusebox::retry::{Stopped, Verdict};
    use fusebox_std::{ConcurrentRetryBudget, RetryFailed};

    let recorder = DebuggingRecorder::new();
    let snapshots = recorder.snapshotter();
    let capture = Capture::default();
    let _events =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(capture.clone()));
    // 0 % of the requests, at least one retry in flight.
    let budget = metrics::with_local_recorder(&recorder, || {
        ConcurrentRetryBudget::new(
            "search",
            fusebox::rate::ConcurrentRetryBudget::builder()
                .budget_percent(0)
                .min_retry_concurrency(1)
                .build()
                .unwrap(),
        )
        .unwrap()
    });
    let n = "name=search";
    let schedule = || {
        Backoff::new(
            BackoffConfig::constant(Duration::from_millis(10)).max_attempts(5),
            1,
        )
        .unwrap()
    };
    // A run inside its first retry holds the one retry in flight; a second
    // run's retry is refused.
    let (gate_tx, gate_rx) = tokio::sync::oneshot::channel::<()>();
    let gate = std::sync::Mutex::new(Some(gate_rx));
    let first = fusebox_std::Retry::new(schedule())
        .clock(fusebox_std::TokioClock::new())
        .budget(&budget)
        .run(
            async |attempt| {
                if attempt == 1 {
                    return Err("busy");
                }
                let rx = gate.lock().unwrap().take();
                if let Some(rx) = rx {
                    let _ = rx.await;
                }
                Ok(attempt)
            },
            |_| Verdict::Retry,
        );
    let mut first = std::pin::pin!(first);
    tokio::select! {
        _ = first.as_mut() => panic!("the first run waits at its gate"),
        () = tokio::time::sleep(std::time::Duration::from_millis(50)) => {}
    }
    let v = values(&snapshots);
    assert_eq!(
        gauge(
            &v,
            &format!("fusebox_concurrent_retry_budget_retries_in_flight{{{n}}}")
        ),
        1.0
    );
    assert_eq!(
        gauge(
            &v,
            &format!("fusebox_concurrent_retry_budget_requests_in_flight{{{n}}}")
        ),
        1.0
    );
    assert_eq!(
        counter(
            &v,
            &format!("fusebox_concurrent_retry_budget_retries_admitted_total{{{n}}}")
        ),
        1
    );
    let second = fusebox_std::Retry::new(schedule())
        .clock(fusebox_std::TokioClock::new())
        .budget(&budget)
        .run(async |_| Err::<u32, _>("busy"), |_| Verdict::Retry)
        .await;
    let Err(RetryFailed::GaveUp(e)) = second else {
        panic!("{second:?}")
    };
    assert_eq!(e.stopped, Stopped::Budget);
    gate_tx.send(()).unwrap();
    assert_eq!(first.await, Ok(2));
    let v = values(&snapshots);
    assert_eq!(
        counter(
            &v,
            &format!("fusebox_concurrent_retry_budget_retries_admitted_total{{{n}}}")
        ),
        0
    );
    assert_eq!(
        counter(
            &v,
            &format!(
                "fusebox_concurrent_retry_budget_retries_rejected_total{{{n},reason=exhausted}}"
            )
        ),
        1
    );
    for g in ["retries_in_flight", "requests_in_flight"] {
        assert_eq!(
            gauge(&v, &format!("fusebox_concurrent_retry_budget_{g}{{{n}}}")),
            0.0,
            "{g}"
        );
    }
    let lines: Vec<String> = capture.take().into_iter().map(|e| e.message).collect();
    assert_eq!(
        lines,
        ["concurrent retry budget search refused a retry: exhausted"]
    );
}

/// The dedup table: new work admitted, duplicates refused (in flight,
/// table full), stored results replayed.
#[test]
fn a_dedup_table_in_events_and_metrics() {
    use fusebox::dedup::Config as DedupConfig;
    use fusebox_std::{Begin, DedupTable};

    let recorder = DebuggingRecorder::new();
    let snapshots = recorder.snapshotter();
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let clock = ManualClock::new(Instant::from_ticks(0));
    let table = metrics::with_local_recorder(&recorder, || {
        DedupTable::<u32, u8, 1, _>::with_clock("orders", DedupConfig::new(), clock.clone())
            .unwrap()
    });
    tracing::subscriber::with_default(subscriber, || {
        let Begin::New(work) = table.begin(7) else {
            panic!("first sight")
        };
        assert!(matches!(table.begin(7), Begin::InFlight));
        work.complete(1).unwrap();
        assert!(matches!(table.begin(7), Begin::Done(1)));
        assert!(matches!(table.begin(7), Begin::Done(1)));
        // One slot, held by a live result: another key is shed.
        assert!(matches!(table.begin(8), Begin::Full));
    });
    let lines: Vec<(Level, String)> = capture
        .take()
        .into_iter()
        .map(|e| (e.level, e.message))
        .collect();
    assert_eq!(
        lines,
        [
            (
                Level::DEBUG,
                "dedup table orders refused a call: in_flight".to_owned()
            ),
            (
                Level::DEBUG,
                "dedup table orders refused a call: full".to_owned()
            ),
        ]
    );
    let v = values(&snapshots);
    let n = "name=orders";
    assert_eq!(
        counter(&v, &format!("fusebox_dedup_calls_admitted_total{{{n}}}")),
        1
    );
    assert_eq!(
        counter(&v, &format!("fusebox_dedup_calls_replayed_total{{{n}}}")),
        2
    );
    for reason in ["in_flight", "full"] {
        assert_eq!(
            counter(
                &v,
                &format!("fusebox_dedup_calls_rejected_total{{{n},reason={reason}}}")
            ),
            1,
            "{reason}"
        );
    }
}

/// Every transition a breaker makes is logged as
/// `<name> <from> -> <to>: <reason>, ...`, the reason's words from the
/// core's `TransitionReason::as_str` (which the firmware's `defmt` lines
/// print too), for each reason.
#[test]
fn transition_messages_start_with_the_cores_words() {
    use fusebox::breaker::{Transition, TransitionReason};

    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let clock = ManualClock::new(Instant::from_ticks(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let hooks = fusebox_std::Hooks::new().on_transition(move |_, t, _| log.lock().unwrap().push(t));
    let breaker = Breaker::builder("ledger")
        .unwrap()
        .clock(clock.clone())
        .hooks(hooks)
        .build(
            Config::new().open_duration(Duration::from_secs(1)),
            ConsecutiveFailures::new(1).unwrap(),
        )
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        breaker.try_acquire().unwrap().failure(); // tripped
        clock.advance(Duration::from_secs(1));
        breaker.try_acquire().unwrap().failure(); // probing, probe failed
        clock.advance(Duration::from_secs(1));
        breaker.try_acquire().unwrap().success(); // probing, probes passed
        breaker.try_acquire().unwrap().failure(); // tripped
        breaker.reset(); // reset
        breaker.isolate(); // isolated
        breaker.reset(); // released
        breaker.force_closed(); // forced closed
        breaker.reset(); // released
    });
    let transitions: Vec<Transition> = seen.lock().unwrap().clone();
    let reasons: Vec<TransitionReason> = transitions.iter().map(Transition::reason).collect();
    use TransitionReason::*;
    assert_eq!(
        reasons,
        [
            Tripped,
            Probing,
            ProbeFailed,
            Probing,
            ProbesPassed,
            Tripped,
            Reset,
            Isolated,
            Released,
            ForcedClosed,
            Released
        ]
    );
    let events = capture.take();
    assert_eq!(events.len(), transitions.len());
    for (e, t) in events.iter().zip(&transitions) {
        let head = format!(
            "ledger {:?} -> {:?}: {}, ",
            t.from,
            t.to,
            t.reason().as_str()
        );
        assert!(e.message.starts_with(&head), "{} / {head}", e.message);
        assert_eq!(e.fields["reason"], t.reason().as_str());
        assert_eq!(t.reason().to_string(), t.reason().as_str());
    }
}

/// A named `CoalesceLayer` counts the requests that shared another's trip.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_named_coalesce_layer_counts_coalesced_requests() {
    use axum::body::Bytes;
    use axum::http;
    use http_body_util::Full;
    use tower::{Layer as _, ServiceExt as _};

    let recorder = DebuggingRecorder::new();
    let snapshots = recorder.snapshotter();
    let layer = metrics::with_local_recorder(&recorder, || {
        fusebox_std::tower::CoalesceLayer::new()
            .name("catalog")
            .unwrap()
    });
    let trips = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let count = Arc::clone(&trips);
    let upstream = tower::service_fn(move |_: http::Request<Full<Bytes>>| {
        let count = Arc::clone(&count);
        async move {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from("ok"))))
        }
    });
    let service = layer.layer(upstream);
    let get = || {
        service.clone().oneshot(
            http::Request::get("/items/7")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
    };
    let (a, b, c) = tokio::join!(get(), get(), get());
    for r in [a, b, c] {
        assert_eq!(r.unwrap().status(), http::StatusCode::OK);
    }
    assert_eq!(trips.load(std::sync::atomic::Ordering::SeqCst), 1);
    let v = values(&snapshots);
    assert_eq!(
        counter(&v, "fusebox_singleflight_runs_total{name=catalog}"),
        1
    );
    assert_eq!(
        counter(
            &v,
            "fusebox_singleflight_calls_coalesced_total{name=catalog}"
        ),
        2
    );
}

/// The tokens gauge is set on the first admission of each clock tick and
/// on every refusal (not on every admission: reading the tokens back costs
/// more than the admission), and by `publish_tokens` (before a scrape).
#[test]
fn the_tokens_gauge_is_set_once_per_tick_and_on_refusals() {
    use fusebox::rate::Quota;
    use fusebox_std::RateLimiter;

    let recorder = DebuggingRecorder::new();
    let snapshots = recorder.snapshotter();
    let clock = ManualClock::new(Instant::from_ticks(0));
    // One token a second, a burst of 5.
    let quota = Quota::per_second(1).allow_burst(5).build().unwrap();
    let limiter = metrics::with_local_recorder(&recorder, || {
        RateLimiter::with_clock("gauge", quota, clock.clone()).unwrap()
    });
    let tokens = |snapshots: &metrics_util::debugging::Snapshotter| {
        gauge(
            &values(snapshots),
            "fusebox_rate_limiter_tokens{name=gauge}",
        )
    };
    limiter.try_acquire().unwrap();
    limiter.try_acquire().unwrap();
    limiter.try_acquire().unwrap();
    // Set by the first admission of tick 0 only: 4 tokens left then.
    assert_eq!(tokens(&snapshots), 4.0);
    // A scrape handler publishes the level as of now: 2 left.
    limiter.publish_tokens();
    assert_eq!(tokens(&snapshots), 2.0);
    clock.advance(Duration::from_ticks(1));
    limiter.try_acquire().unwrap();
    limiter.try_acquire().unwrap();
    // Set by the first admission of the new tick (5 - 4 taken, no whole
    // token refilled in a tick), not by the second.
    assert_eq!(tokens(&snapshots), 1.0);
    assert!(limiter.try_acquire().is_err());
    // A refusal sets it.
    assert_eq!(tokens(&snapshots), 0.0);
}

/// The tower `RetryLayer` counts its attempts and retries in the same
/// series as the std runner.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_retry_layer_counts_attempts_and_retries() {
    use fusebox::backoff::Config as BackoffConfig;
    use fusebox_std::telemetry::RetryTelemetry;
    use fusebox_std::tower::RetryLayer;
    use tower::{Layer, ServiceExt};

    let recorder = DebuggingRecorder::new();
    let snapshots = recorder.snapshotter();
    let telemetry =
        metrics::with_local_recorder(&recorder, || RetryTelemetry::new("upstream").unwrap());
    let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let seen = Arc::clone(&calls);
    // 503 twice, then 200.
    let upstream = tower::service_fn(move |_req: axum::http::Request<axum::body::Body>| {
        let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move {
            let status = if n < 2 { 503 } else { 200 };
            Ok::<_, std::convert::Infallible>(
                axum::http::Response::builder()
                    .status(status)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
        }
    });
    let svc = RetryLayer::new(BackoffConfig::constant(Duration::from_millis(5)).max_attempts(5))
        .unwrap()
        .telemetry(telemetry)
        .layer(upstream);
    let req = axum::http::Request::get("/item")
        .body(axum::body::Body::empty())
        .unwrap();
    let resp = svc.oneshot(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let v = values(&snapshots);
    assert_eq!(
        counter(&v, "fusebox_retry_attempts_total{name=upstream}"),
        3
    );
    assert_eq!(counter(&v, "fusebox_retry_retries_total{name=upstream}"), 2);
}
