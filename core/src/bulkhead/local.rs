//! [`Bulkhead`]: the `&mut` bulkhead, no atomics.

use super::{Rejected, check_limit};
use crate::ConfigError;

/// A bulkhead for a single owner (`&mut self`): at most `limit` tokens out
/// at once. Needs no atomics, so it works on every target without the
/// `sync` feature.
///
/// A [`Token`] cannot free its slot by itself: hand it back with
/// [`Bulkhead::release`]. It is `#[must_use]` and not `Clone`, so it
/// cannot be duplicated; a token that is dropped instead keeps its slot
/// taken until [`Bulkhead::reset`].
///
/// ```
/// use fusebox::bulkhead::Bulkhead;
///
/// let mut uplink = Bulkhead::new(1)?;
/// let token = uplink.try_acquire().expect("free");
/// assert_eq!(uplink.try_acquire().unwrap_err().limit, 1);
/// uplink.release(token);
/// assert!(uplink.try_acquire().is_ok_and(|t| { uplink.release(t); true }));
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Bulkhead {
    limit: u32,
    in_use: u32,
}

/// One slot of a [`Bulkhead`]; hand it back with
/// [`Bulkhead::release`].
///
/// Zero-sized: it carries no reference, so it does not borrow the bulkhead
/// (the owner can keep calling it while tokens are out). Releasing a token
/// into a bulkhead other than the one that issued it is a logic error that
/// the type does not catch; it cannot panic or underflow (the count
/// saturates at zero).
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[must_use = "hand the token back with `Bulkhead::release`, or its slot stays taken"]
pub struct Token {
    _private: (),
}

impl Bulkhead {
    /// A bulkhead of `limit` slots (at least 1), all free.
    pub const fn new(limit: u32) -> Result<Self, ConfigError> {
        match check_limit(limit) {
            Ok(()) => Ok(Self { limit, in_use: 0 }),
            Err(e) => Err(e),
        }
    }

    /// Take a slot if one is free (`in_use < limit`).
    #[inline]
    pub fn try_acquire(&mut self) -> Result<Token, Rejected> {
        if self.in_use < self.limit {
            // in_use < limit <= u32::MAX: cannot overflow.
            self.in_use = self.in_use.saturating_add(1);
            Ok(Token { _private: () })
        } else {
            Err(Rejected { limit: self.limit })
        }
    }

    /// Hand a token back, freeing its slot.
    #[inline]
    pub fn release(&mut self, token: Token) {
        let Token { _private: () } = token;
        self.in_use = self.in_use.saturating_sub(1);
    }

    /// Change the limit (at least 1); returns the old one. Tokens already
    /// out stay valid: after a decrease, calls are refused until enough of
    /// them come back.
    pub fn set_limit(&mut self, limit: u32) -> Result<u32, ConfigError> {
        check_limit(limit)?;
        let old = self.limit;
        self.limit = limit;
        Ok(old)
    }

    /// Forget every token out (they must not be released afterwards; if
    /// they are, the count saturates at zero). For recovery after the
    /// tasks holding them were lost.
    pub fn reset(&mut self) {
        self.in_use = 0;
    }

    /// The limit.
    pub const fn limit(&self) -> u32 {
        self.limit
    }

    /// Tokens out now.
    pub const fn in_use(&self) -> u32 {
        self.in_use
    }

    /// Free slots now (zero while a lowered limit is below `in_use`).
    pub const fn available(&self) -> u32 {
        self.limit.saturating_sub(self.in_use)
    }
}
