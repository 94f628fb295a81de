//! The one configuration error every primitive returns.

use core::fmt;

/// A configuration value was out of range.
///
/// Every primitive validates its configuration when it is built (most
/// builders are `const fn`, so a firmware can check a configuration at
/// compile time by building it in a `const`). The error names the field
/// that was wrong and the range it must be in, so the message alone tells
/// the user what to change:
///
/// ```
/// use fusebox::breaker::{Config, ConsecutiveFailures};
///
/// let err = ConsecutiveFailures::new(0).unwrap_err();
/// assert_eq!(err.field(), "failure_threshold");
/// assert_eq!(
///     err.to_string(),
///     "invalid `failure_threshold`: must be at least 1 (0 would trip on every call)"
/// );
/// # let _ = Config::new();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConfigError {
    field: &'static str,
    requirement: &'static str,
}

impl ConfigError {
    /// A configuration error for `field`, which must satisfy `requirement`
    /// (written to follow "must", e.g. `"be in 1..=100 (percent)"`).
    pub const fn new(field: &'static str, requirement: &'static str) -> Self {
        Self { field, requirement }
    }

    /// The name of what was out of range: the builder method or the config
    /// file field that sets it (`"failure_rate"`), the constructor's
    /// argument (`"rate"` of `Quota::per_second`), or the type parameter
    /// (`"CountWindow::<N>"`).
    pub const fn field(&self) -> &'static str {
        self.field
    }

    /// What the field must satisfy, e.g. `"be in 1..=100 (percent)"`.
    pub const fn requirement(&self) -> &'static str {
        self.requirement
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid `{}`: must {}", self.field, self.requirement)
    }
}

impl core::error::Error for ConfigError {}
