//! Handle names: the label of a handle in logs and metrics.

use std::fmt;

/// The most bytes a [`Name`] may have.
pub const MAX_NAME_LEN: usize = 64;

/// A handle's name: 1 to [`MAX_NAME_LEN`] bytes of `[a-zA-Z0-9_.-]`,
/// checked when built, so it can be a log field, a metrics label and a
/// Prometheus-safe suffix without escaping. Kept inline (no allocation, so
/// a handle's name lives in its one shared allocation); cloning copies at
/// most 64 bytes.
///
/// ```
/// use fusebox_std::Name;
///
/// assert_eq!(Name::new("payments.charge-v2")?.as_str(), "payments.charge-v2");
/// assert!(Name::new("has space").is_err());
/// assert!(Name::new("").is_err());
/// # Ok::<(), fusebox_std::NameError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Name {
    // The first `len` bytes are the name (ASCII, checked); the rest zero.
    len: u8,
    bytes: [u8; MAX_NAME_LEN],
}

impl Name {
    /// Check and keep `name`.
    ///
    /// # Errors
    /// [`NameError`] if it is empty, longer than [`MAX_NAME_LEN`] bytes, or
    /// holds a byte outside `[a-zA-Z0-9_.-]` (the error says which).
    pub fn new(name: &str) -> Result<Self, NameError> {
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        if name.len() > MAX_NAME_LEN {
            return Err(NameError::TooLong { len: name.len() });
        }
        if let Some((at, c)) = name
            .char_indices()
            .find(|&(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
        {
            return Err(NameError::BadChar { at, c });
        }
        let len = u8::try_from(name.len()).map_err(|_| NameError::TooLong { len: name.len() })?;
        let mut bytes = [0; MAX_NAME_LEN];
        if let Some(to) = bytes.get_mut(..name.len()) {
            to.copy_from_slice(name.as_bytes());
        }
        Ok(Self { len, bytes })
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        // ASCII by construction: the fallback is never taken.
        std::str::from_utf8(self.bytes.get(..usize::from(self.len)).unwrap_or_default())
            .unwrap_or_default()
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// Why a [`Name`] was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameError {
    /// The name is empty.
    Empty,
    /// The name has `len` bytes, over [`MAX_NAME_LEN`].
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The name holds `c` at byte `at`, outside `[a-zA-Z0-9_.-]`.
    BadChar {
        /// Byte offset of the character.
        at: usize,
        /// The character.
        c: char,
    },
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => {
                f.write_str("handle name is empty: give 1 to 64 bytes of [a-zA-Z0-9_.-]")
            }
            Self::TooLong { len } => write!(
                f,
                "handle name is {len} bytes long: at most {MAX_NAME_LEN} bytes of [a-zA-Z0-9_.-]"
            ),
            Self::BadChar { at, c } => write!(
                f,
                "handle name holds {c:?} at byte {at}: use only [a-zA-Z0-9_.-] (e.g. `payments.charge`)"
            ),
        }
    }
}

impl std::error::Error for NameError {}

/// Why a handle could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// The name was refused.
    Name(NameError),
    /// A configuration field is out of range (zero capacity, a percent over
    /// 100, ...): the core's error names the field and its range.
    Config(fusebox::ConfigError),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(e) => e.fmt(f),
            Self::Config(e) => write!(f, "configuration: {e}"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Name(e) => Some(e),
            Self::Config(e) => Some(e),
        }
    }
}

impl From<NameError> for BuildError {
    fn from(e: NameError) -> Self {
        Self::Name(e)
    }
}

impl From<fusebox::ConfigError> for BuildError {
    fn from(e: fusebox::ConfigError) -> Self {
        Self::Config(e)
    }
}

/// An async call was made outside a tokio runtime
/// (`tokio::runtime::Handle::try_current()` found none). Run it inside
/// `#[tokio::main]`, `#[tokio::test]` or `Runtime::block_on`.
///
/// A runtime built without its timer (`Builder::new_current_thread()`
/// without `enable_time()` / `enable_all()`) cannot be detected through
/// tokio's public API: the calls that wait then panic inside tokio with
/// "A Tokio 1.x context was found, but timers are disabled". Build the
/// runtime with `enable_all()`.
#[cfg(feature = "tokio")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoRuntime;

#[cfg(feature = "tokio")]
impl fmt::Display for NoRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "no tokio runtime: call this inside #[tokio::main], #[tokio::test] or Runtime::block_on (with enable_all())",
        )
    }
}

#[cfg(feature = "tokio")]
impl std::error::Error for NoRuntime {}

/// `Err(NoRuntime)` unless called inside a tokio runtime.
#[cfg(feature = "tokio")]
pub(crate) fn check_runtime() -> Result<(), NoRuntime> {
    tokio::runtime::Handle::try_current()
        .map(|_| ())
        .map_err(|_| NoRuntime)
}

/// 16 bytes from the OS (`getrandom`), for the tables' hash seeds and for
/// jitter. Falls back to a mix of the time and the address of a stack
/// value if the OS has no entropy to give (never seen on a server, but not
/// a reason to panic).
pub fn os_seed() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        let t = std_nanos();
        let a = &bytes as *const _ as usize as u64;
        bytes[..8].copy_from_slice(&t.to_le_bytes());
        bytes[8..].copy_from_slice(&(a ^ t.rotate_left(29)).to_le_bytes());
    }
    bytes
}

/// A 64-bit seed from the OS, for [`fusebox::backoff::Backoff::new`]'s
/// jitter.
pub fn os_seed_u64() -> u64 {
    let b = os_seed();
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

fn std_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(Name::new("a").is_ok());
        assert!(Name::new(&"x".repeat(64)).is_ok());
        assert_eq!(
            Name::new(&"x".repeat(65)),
            Err(NameError::TooLong { len: 65 })
        );
        assert_eq!(Name::new(""), Err(NameError::Empty));
        assert_eq!(Name::new("a/b"), Err(NameError::BadChar { at: 1, c: '/' }));
        assert_eq!(Name::new("é"), Err(NameError::BadChar { at: 0, c: 'é' }));
        assert!(
            NameError::BadChar { at: 1, c: '/' }
                .to_string()
                .contains("[a-zA-Z0-9_.-]")
        );
    }

    #[test]
    fn seeds_differ() {
        assert_ne!(os_seed(), os_seed());
    }
}
