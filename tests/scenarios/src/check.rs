//! Assertions that return a [`Failure`] instead of panicking, so a runner
//! without unwinding (the Cortex-M0 one) reports every scenario.

/// Where and why a scenario failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// The check that failed, as written in the source.
    pub check: &'static str,
    /// The source line of the check.
    pub line: u32,
}

impl core::fmt::Display for Failure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "line {}: {}", self.line, self.check)
    }
}

/// Fail the scenario unless `cond` holds.
macro_rules! check {
    ($cond:expr) => {
        if !$cond {
            return Err($crate::Failure {
                check: stringify!($cond),
                line: line!(),
            });
        }
    };
}

/// Fail the scenario unless `left == right`.
macro_rules! check_eq {
    ($left:expr, $right:expr) => {
        if $left != $right {
            return Err($crate::Failure {
                check: concat!(stringify!($left), " == ", stringify!($right)),
                line: line!(),
            });
        }
    };
}

/// Unwrap an `Ok`/`Some`, or fail the scenario.
macro_rules! take {
    ($e:expr) => {
        match $crate::check::Takeable::take($e) {
            Some(v) => v,
            None => {
                return Err($crate::Failure {
                    check: concat!(stringify!($e), " is Ok/Some"),
                    line: line!(),
                })
            }
        }
    };
}

/// What [`take!`] can unwrap.
pub trait Takeable {
    /// The value inside.
    type Value;
    /// The value, if there is one.
    fn take(self) -> Option<Self::Value>;
}

impl<T> Takeable for Option<T> {
    type Value = T;
    fn take(self) -> Option<T> {
        self
    }
}

impl<T, E> Takeable for Result<T, E> {
    type Value = T;
    fn take(self) -> Option<T> {
        self.ok()
    }
}
