//! `--serve --config FILE [--entry NAME]`: the fusebox gateway's breaker,
//! upstream rate limit and bulkhead from a configuration file in
//! [`fusebox_std::config`]'s format (TOML, YAML or JSON, as
//! `examples/config/server.*`): the entries `breaker.NAME`,
//! `limiter.NAME` and `bulkhead.NAME`. The default file is
//! `examples/outage/gateway.toml` (the demo's own values), the default
//! entry `upstream`.
//!
//! A breaker's policy type is compiled in; this gateway compiles in the
//! four kinds with the sizes `examples/config/server.*` use:
//! `consecutive_failures`, `failure_count`, `count_window` of 20 calls,
//! `time_window` of 10 buckets.

use std::path::{Path, PathBuf};

use fusebox::breaker::{ConsecutiveFailures, CountWindow, FailureCount, TimeWindow};
use fusebox::config::{BreakerPolicy, PolicyKind};
use fusebox::rate::Quota;
use fusebox_std::config::ConfigFile;

use super::gateway::Protection;

/// The count window's size this gateway compiles in.
pub const COUNT_WINDOW: usize = 20;
/// The time window's bucket count this gateway compiles in.
pub const TIME_BUCKETS: usize = 10;

/// The default file: the demo's own values.
pub fn default_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/outage/gateway.toml")
}

/// The breaker and bulkhead of one entry, its policy typed.
pub enum AnyProtection {
    /// `policy = "consecutive_failures"`.
    Consecutive(Protection<ConsecutiveFailures>),
    /// `policy = "failure_count"`.
    FailureCount(Protection<FailureCount>),
    /// `policy = "count_window"`, `window = 20` (boxed: the window is
    /// large).
    Count(Box<Protection<CountWindow<COUNT_WINDOW>>>),
    /// `policy = "time_window"`, `buckets = 10` (boxed likewise).
    Time(Box<Protection<TimeWindow<TIME_BUCKETS>>>),
}

/// What `--config` gives the gateway.
pub struct FromFile {
    /// The breaker and the bulkhead.
    pub protection: AnyProtection,
    /// The upstream's rate limit.
    pub quota: Quota,
}

fn protection<P: BreakerPolicy>(
    file: &ConfigFile,
    path: &Path,
    name: &str,
) -> Result<Protection<P>, String> {
    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    // The loader's error names the file's field; then the parts cannot fail.
    file.breaker::<P>(name).map_err(|e| at(&e))?;
    let spec = &file.breaker[name];
    file.bulkhead(name).map_err(|e| at(&e))?;
    let bulkhead = file.bulkhead[name]
        .limit()
        .map_err(|e| at(&format!("bulkhead.{name}.{e}")))?;
    Ok(Protection {
        // A table of open durations needs the loader's 'static copy.
        config: file.breaker_config(name).map_err(|e| at(&e))?,
        policy: spec
            .policy::<P>()
            .map_err(|e| at(&format!("breaker.{name}.{e}")))?,
        bulkhead,
    })
}

/// Loads entry `name` of the file at `path`; the error names the file
/// and the field, and says what to write.
pub fn load(path: &Path, name: &str) -> Result<FromFile, String> {
    let file = ConfigFile::load(path).map_err(|e| e.to_string())?;
    let kind = file.breaker.get(name).map(|b| b.policy).ok_or_else(|| {
        let names: Vec<&str> = file.breaker.keys().map(String::as_str).collect();
        format!(
            "{}: no [breaker.{name}] entry (the file's breakers: {}); pick one with --entry NAME",
            path.display(),
            if names.is_empty() {
                "none".into()
            } else {
                names.join(", ")
            }
        )
    })?;
    let protection = match kind {
        PolicyKind::ConsecutiveFailures => {
            AnyProtection::Consecutive(protection(&file, path, name)?)
        }
        PolicyKind::FailureCount => AnyProtection::FailureCount(protection(&file, path, name)?),
        PolicyKind::CountWindow => AnyProtection::Count(Box::new(protection(&file, path, name)?)),
        PolicyKind::TimeWindow => AnyProtection::Time(Box::new(protection(&file, path, name)?)),
    };
    let quota = file
        .limiter(name)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .quota();
    Ok(FromFile { protection, quota })
}
