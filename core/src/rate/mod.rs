//! Rate limits and retry budgets: what keeps a service, or a gateway's
//! uplink, from being overloaded by its callers and by its own retries.
//!
//! | type | what it decides |
//! |---|---|
//! | [`RetryBudget`] | whether a retry is allowed, as a share of recent successes plus a floor |

mod budget;
pub use budget::RetryBudget;
