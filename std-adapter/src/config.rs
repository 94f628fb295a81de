//! Configuration from files (feature `serde`): TOML, YAML or JSON into
//! fusebox's configurations, with the field's path in every error.
//!
//! A [`ConfigFile`] holds named entries per kind, each one of
//! `fusebox::config`'s file shapes:
//!
//! ```toml
//! [breaker.payments]
//! policy = "count_window"
//! window = 20
//! failure_rate = "50%"
//! minimum_calls = 10
//! open_duration = "30s"
//!
//! [limiter.payments]
//! rate = "100/s"
//! burst = 20
//!
//! [bulkhead.payments]
//! max_concurrent_calls = 16
//! ```
//!
//! The sections are `breaker`, `limiter`, `keyed_limiter`, `retry_budget`,
//! `concurrent_retry_budget`, `bulkhead`, `adaptive_limit`, `backoff`,
//! `dedup`, `adaptive_timeout` and `hedge`; the fields of each
//! are listed in `fusebox::config`. Loading parses the file (unknown fields,
//! wrong units and missing fields fail with the path of the field, through
//! `serde_path_to_error`), then checks every entry with the core's own
//! builders, so a file that loads builds. The typed getters
//! ([`ConfigFile::breaker`] and the rest) then check what only the
//! compiled types know: the policy's kind and the sizes fixed by const
//! generics (a window's length, a table's capacity).
//!
//! An error reads `breaker.payments.failure_rate: must be in 1..=100
//! (percent), got 150`, with the file's name in front when it was read from
//! one. [`ConfigFile::to_string`] writes a file back in any of the three
//! formats (an operator can dump the running configuration), and reading
//! that back gives an equal [`ConfigFile`].
//!
//! A program with a file shape of its own can embed the same specs
//! (`fusebox::config::BreakerSpec` and the rest) in its types, deserialize
//! them with `serde_path_to_error`, and call each spec's `check` or
//! `build`, whose `Invalid` names the field within the entry.
//!
//! Durations convert to ticks of the binary's tick rate exactly (see
//! `fusebox::config::units`); loading allocates (it is not on a request's
//! path), building does not, but for one thing: a breaker's
//! `open_durations` table, which the core's `Config` holds as a
//! `&'static [Duration]`. [`ConfigFile::breaker`] and
//! [`ConfigFile::breaker_config`] make that copy with `Box::leak`, once
//! per distinct table in the process (kept in a process-wide list, so
//! loading the same file again, or a thousand breakers with the same
//! table, leaks nothing more): the memory a process leaks is bounded by
//! the distinct tables it ever loads, 8 bytes an entry.

use std::collections::BTreeMap;
use std::fmt;
use std::hash::Hash;
use std::path::{Path, PathBuf};

use fusebox::backoff::Backoff;
use fusebox::breaker::{CircuitBreaker, Config as BreakerConfig};
use fusebox::bulkhead::{AdaptiveLimit, Bulkhead};
use fusebox::config::{
    AdaptiveLimitSpec, AdaptiveTimeoutSpec, BackoffSpec, BreakerPolicy, BreakerSpec, BulkheadSpec,
    ConcurrentRetryBudgetSpec, DedupSpec, HedgeSpec, Invalid, KeyedLimiterSpec, LimiterSpec,
    RetryBudgetSpec,
};
use fusebox::dedup::DedupTable;
use fusebox::hash::Seed;
use fusebox::latency::{AdaptiveTimeout, HedgePolicy};
use fusebox::rate::{KeyedLimiter, RetryBudget, TokenBucket};
use fusebox::time::Duration;
use serde::{Deserialize, Serialize};

/// A file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// TOML (`.toml`).
    Toml,
    /// YAML (`.yaml`, `.yml`).
    Yaml,
    /// JSON (`.json`).
    Json,
}

impl Format {
    /// The format a file's extension names.
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()? {
            "toml" => Some(Format::Toml),
            "yaml" | "yml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// Why a configuration did not load or build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    file: Option<PathBuf>,
    path: String,
    message: String,
    line: Option<usize>,
}

impl LoadError {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            file: None,
            path: path.into(),
            message: message.into(),
            line: None,
        }
    }

    fn invalid(section: &str, name: &str, e: &Invalid) -> Self {
        Self::new(
            format!("{section}.{name}.{}", e.field),
            e.reason().to_string(),
        )
    }

    /// The field's path in the file (`breaker.payments.failure_rate`);
    /// empty when the error is about the whole file.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What was wrong, without the path.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The file, when the configuration was read from one.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// The line (1-based) where the parser stopped, when it knows it.
    pub fn line(&self) -> Option<usize> {
        self.line
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}: ", file.display())?;
        }
        if self.path.is_empty() {
            f.write_str(&self.message)?;
        } else {
            write!(f, "{}: {}", self.path, self.message)?;
        }
        match self.line {
            Some(line) => write!(f, " (line {line})"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for LoadError {}

/// A configuration file: named entries of every kind (see the
/// [module docs](self)). Sections and names are kept in order, so a file
/// written back is stable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Circuit breakers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub breaker: BTreeMap<String, BreakerSpec>,
    /// Token buckets.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limiter: BTreeMap<String, LimiterSpec>,
    /// Keyed limiters (a bucket per key).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub keyed_limiter: BTreeMap<String, KeyedLimiterSpec>,
    /// Retry budgets.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub retry_budget: BTreeMap<String, RetryBudgetSpec>,
    /// Concurrency retry budgets (Envoy's).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub concurrent_retry_budget: BTreeMap<String, ConcurrentRetryBudgetSpec>,
    /// Bulkheads.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bulkhead: BTreeMap<String, BulkheadSpec>,
    /// AIMD adaptive limits.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub adaptive_limit: BTreeMap<String, AdaptiveLimitSpec>,
    /// Backoff schedules.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub backoff: BTreeMap<String, BackoffSpec>,
    /// Dedup / idempotency tables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dedup: BTreeMap<String, DedupSpec>,
    /// Adaptive timeouts.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub adaptive_timeout: BTreeMap<String, AdaptiveTimeoutSpec>,
    /// Hedge policies.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hedge: BTreeMap<String, HedgeSpec>,
}

/// The `'static` copy of a breaker's `open_durations` table: leaked once
/// per distinct table in the process (see the [module docs](self)).
fn static_table(spec: &BreakerSpec) -> Option<&'static [Duration]> {
    static TABLES: std::sync::Mutex<Vec<&'static [Duration]>> = std::sync::Mutex::new(Vec::new());
    let table = spec.open_durations?;
    let table = table.as_slice();
    let mut tables = TABLES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(kept) = tables.iter().find(|kept| **kept == table) {
        return Some(kept);
    }
    let kept: &'static [Duration] = Box::leak(table.to_vec().into_boxed_slice());
    tables.push(kept);
    Some(kept)
}

/// `message` with the parser's " at line L column C" removed.
fn strip_location(message: String) -> String {
    match message.find(" at line ") {
        Some(i) if message[i..].contains(" column ") => message[..i].to_string(),
        _ => message,
    }
}

fn parse_error(
    path: &serde_path_to_error::Path,
    message: String,
    line: Option<usize>,
) -> LoadError {
    let path = path.to_string();
    // The path crate writes "." for the root.
    let path = if path == "." { String::new() } else { path };
    // serde_yaml writes the path it knows in front of the message.
    let message = match message
        .strip_prefix(path.as_str())
        .and_then(|m| m.strip_prefix(": "))
    {
        Some(m) if !path.is_empty() => m.to_string(),
        _ => message,
    };
    LoadError {
        file: None,
        path,
        message,
        line,
    }
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()
        .iter()
        .take(offset)
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn entry<'a, T>(
    map: &'a BTreeMap<String, T>,
    section: &str,
    name: &str,
) -> Result<&'a T, LoadError> {
    map.get(name).ok_or_else(|| {
        let names: Vec<&str> = map.keys().map(String::as_str).collect();
        LoadError::new(
            format!("{section}.{name}"),
            if names.is_empty() {
                format!("missing: the file has no [{section}] entries")
            } else {
                format!(
                    "missing: the file's [{section}] entries are {}",
                    names.join(", ")
                )
            },
        )
    })
}

impl ConfigFile {
    /// Parse `text` in `format` and check every entry.
    pub fn from_str(text: &str, format: Format) -> Result<Self, LoadError> {
        let file = Self::parse(text, format)?;
        file.check()?;
        Ok(file)
    }

    /// Parse `text` in `format` without checking the values (syntax,
    /// fields and units only): for tools that read a file to rewrite it.
    pub fn parse(text: &str, format: Format) -> Result<Self, LoadError> {
        let file: ConfigFile = match format {
            Format::Toml => {
                let de = toml::Deserializer::parse(text).map_err(|e| LoadError {
                    line: e.span().map(|s| line_of(text, s.start)),
                    ..LoadError::new("", e.message().to_string())
                })?;
                serde_path_to_error::deserialize(de).map_err(|e| {
                    let line = e.inner().span().map(|s| line_of(text, s.start));
                    parse_error(e.path(), e.inner().message().to_string(), line)
                })?
            }
            Format::Json => {
                let mut de = serde_json::Deserializer::from_str(text);
                let file = serde_path_to_error::deserialize(&mut de).map_err(|e| {
                    let line = Some(e.inner().line());
                    parse_error(e.path(), strip_location(e.inner().to_string()), line)
                })?;
                de.end()
                    .map_err(|e| LoadError::new("", strip_location(e.to_string())))?;
                file
            }
            Format::Yaml => {
                let de = serde_yaml_ng::Deserializer::from_str(text);
                serde_path_to_error::deserialize(de).map_err(|e| {
                    let line = e.inner().location().map(|l| l.line());
                    parse_error(e.path(), strip_location(e.inner().to_string()), line)
                })?
            }
        };
        Ok(file)
    }

    /// Read, parse and check a file; its extension names the format
    /// (`.toml`, `.yaml` / `.yml`, `.json`).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let path = path.as_ref();
        let with_file = |mut e: LoadError| {
            e.file = Some(path.to_path_buf());
            e
        };
        let format = Format::from_path(path).ok_or_else(|| {
            with_file(LoadError::new(
                "",
                "unknown format: name the file .toml, .yaml, .yml or .json",
            ))
        })?;
        let text = std::fs::read_to_string(path)
            .map_err(|e| with_file(LoadError::new("", format!("cannot read: {e}"))))?;
        Self::from_str(&text, format).map_err(with_file)
    }

    /// Check every entry with the core's builders (what does not need the
    /// compiled types); [`from_str`](Self::from_str) and
    /// [`load`](Self::load) call it.
    pub fn check(&self) -> Result<(), LoadError> {
        fn each<T>(
            section: &str,
            map: &BTreeMap<String, T>,
            check: impl Fn(&T) -> Result<(), Invalid>,
        ) -> Result<(), LoadError> {
            for (name, spec) in map {
                check(spec).map_err(|e| LoadError::invalid(section, name, &e))?;
            }
            Ok(())
        }
        each("breaker", &self.breaker, BreakerSpec::check)?;
        each("limiter", &self.limiter, LimiterSpec::check)?;
        each(
            "keyed_limiter",
            &self.keyed_limiter,
            KeyedLimiterSpec::check,
        )?;
        each("retry_budget", &self.retry_budget, RetryBudgetSpec::check)?;
        each(
            "concurrent_retry_budget",
            &self.concurrent_retry_budget,
            ConcurrentRetryBudgetSpec::check,
        )?;
        each("bulkhead", &self.bulkhead, BulkheadSpec::check)?;
        each(
            "adaptive_limit",
            &self.adaptive_limit,
            AdaptiveLimitSpec::check,
        )?;
        each("backoff", &self.backoff, BackoffSpec::check)?;
        each("dedup", &self.dedup, DedupSpec::check)?;
        each(
            "adaptive_timeout",
            &self.adaptive_timeout,
            AdaptiveTimeoutSpec::check,
        )?;
        each("hedge", &self.hedge, HedgeSpec::check)
    }

    /// Write the configuration in `format`.
    pub fn to_string(&self, format: Format) -> Result<String, LoadError> {
        match format {
            Format::Toml => toml::to_string(self).map_err(|e| LoadError::new("", e.to_string())),
            Format::Yaml => {
                serde_yaml_ng::to_string(self).map_err(|e| LoadError::new("", e.to_string()))
            }
            Format::Json => {
                serde_json::to_string_pretty(self).map_err(|e| LoadError::new("", e.to_string()))
            }
        }
    }

    /// The breaker `name`, with policy type `P` (its kind and window size
    /// checked against the file).
    /// A table of open durations is copied to a `'static` slice, once per
    /// distinct table (see the [module docs](self)).
    pub fn breaker<P: BreakerPolicy>(&self, name: &str) -> Result<CircuitBreaker<P>, LoadError> {
        let spec = entry(&self.breaker, "breaker", name)?;
        // The checks first: an invalid table is never leaked.
        spec.check()
            .and_then(|()| spec.build_with_table::<P>(static_table(spec)))
            .map_err(|e| LoadError::invalid("breaker", name, &e))
    }

    /// The breaker `name`'s [`Config`](BreakerConfig) alone (for a breaker
    /// built elsewhere, e.g. `fusebox_std::Breaker`), with its table of
    /// open durations copied as [`breaker`](Self::breaker) does.
    pub fn breaker_config(&self, name: &str) -> Result<BreakerConfig, LoadError> {
        let spec = entry(&self.breaker, "breaker", name)?;
        spec.check()
            .and_then(|()| spec.config_with_table(static_table(spec)))
            .map_err(|e| LoadError::invalid("breaker", name, &e))
    }

    /// The token bucket `name`, full.
    pub fn limiter(&self, name: &str) -> Result<TokenBucket, LoadError> {
        entry(&self.limiter, "limiter", name)?
            .build()
            .map_err(|e| LoadError::invalid("limiter", name, &e))
    }

    /// The keyed limiter `name` of capacity `N` (checked against the file),
    /// hashing keys with `seed` (the process's secret, never in a file).
    pub fn keyed_limiter<K: Hash + Eq, const N: usize>(
        &self,
        name: &str,
        seed: Seed,
    ) -> Result<KeyedLimiter<K, N>, LoadError> {
        entry(&self.keyed_limiter, "keyed_limiter", name)?
            .build(seed)
            .map_err(|e| LoadError::invalid("keyed_limiter", name, &e))
    }

    /// The retry budget `name` of `S` slices (checked against the file;
    /// share it: `fusebox_std::RetryBudget::new(name, budget)`).
    pub fn retry_budget<const S: usize>(&self, name: &str) -> Result<RetryBudget<S>, LoadError> {
        entry(&self.retry_budget, "retry_budget", name)?
            .build()
            .map_err(|e| LoadError::invalid("retry_budget", name, &e))
    }

    /// The concurrency retry budget `name`, with no request in flight
    /// (share it: `fusebox_std::ConcurrentRetryBudget::new(name, budget)`).
    pub fn concurrent_retry_budget(
        &self,
        name: &str,
    ) -> Result<fusebox::rate::ConcurrentRetryBudget, LoadError> {
        entry(
            &self.concurrent_retry_budget,
            "concurrent_retry_budget",
            name,
        )?
        .build()
        .map_err(|e| LoadError::invalid("concurrent_retry_budget", name, &e))
    }

    /// The bulkhead `name` (a `&mut` one; `limit` of the spec gives the
    /// number for a shared `fusebox::bulkhead::SharedBulkhead`).
    pub fn bulkhead(&self, name: &str) -> Result<Bulkhead, LoadError> {
        entry(&self.bulkhead, "bulkhead", name)?
            .build()
            .map_err(|e| LoadError::invalid("bulkhead", name, &e))
    }

    /// The adaptive limit `name`.
    pub fn adaptive_limit(&self, name: &str) -> Result<AdaptiveLimit, LoadError> {
        entry(&self.adaptive_limit, "adaptive_limit", name)?
            .build()
            .map_err(|e| LoadError::invalid("adaptive_limit", name, &e))
    }

    /// The backoff schedule `name`, seeded (the seed picks the jitter).
    pub fn backoff(&self, name: &str, seed: u64) -> Result<Backoff, LoadError> {
        entry(&self.backoff, "backoff", name)?
            .build(seed)
            .map_err(|e| LoadError::invalid("backoff", name, &e))
    }

    /// The adaptive timeout `name`, its histogram's `P`, `B` and `S`
    /// checked against the file.
    pub fn adaptive_timeout<const P: u32, const B: usize, const S: usize>(
        &self,
        name: &str,
    ) -> Result<AdaptiveTimeout<P, B, S>, LoadError> {
        entry(&self.adaptive_timeout, "adaptive_timeout", name)?
            .build()
            .map_err(|e| LoadError::invalid("adaptive_timeout", name, &e))
    }

    /// The hedge policy `name`, its histogram's `P`, `B` and `S` checked
    /// against the file.
    pub fn hedge<const P: u32, const B: usize, const S: usize>(
        &self,
        name: &str,
    ) -> Result<HedgePolicy<P, B, S>, LoadError> {
        entry(&self.hedge, "hedge", name)?
            .build()
            .map_err(|e| LoadError::invalid("hedge", name, &e))
    }

    /// The dedup table `name` of capacity `N` (checked against the file).
    pub fn dedup<K: Hash + Eq, V, const N: usize>(
        &self,
        name: &str,
        seed: Seed,
    ) -> Result<DedupTable<K, V, N>, LoadError> {
        entry(&self.dedup, "dedup", name)?
            .build(seed)
            .map_err(|e| LoadError::invalid("dedup", name, &e))
    }
}
