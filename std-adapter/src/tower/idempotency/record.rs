//! A stored answer as bytes: fingerprint, status, headers, body.
//!
//! `fp[16] | flags u8 | status u16 | n u16 | n x (name_len u16, name,
//! value_len u32, value) | body_len u32 | body`, big-endian.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

pub(super) const TRUNCATED: u8 = 1;

pub(super) struct Record {
    pub fingerprint: [u8; 16],
    pub flags: u8,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

pub(super) fn encode(r: &Record) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + r.body.len());
    out.extend_from_slice(&r.fingerprint);
    out.push(r.flags);
    out.extend_from_slice(&r.status.as_u16().to_be_bytes());
    let n = u16::try_from(r.headers.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&n.to_be_bytes());
    for (name, value) in r.headers.iter().take(usize::from(n)) {
        let name = name.as_str().as_bytes();
        // A header name is at most 64 KiB - 1 (http's limit).
        out.extend_from_slice(&u16::try_from(name.len()).unwrap_or(u16::MAX).to_be_bytes());
        out.extend_from_slice(name);
        let value = value.as_bytes();
        out.extend_from_slice(&u32::try_from(value.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(value);
    }
    out.extend_from_slice(&u32::try_from(r.body.len()).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(&r.body);
    out
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (a, b) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = b;
        Some(a)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
}

/// `None` for bytes this layer did not write (another version, corruption).
pub(super) fn decode(bytes: &[u8]) -> Option<Record> {
    let mut c = Cursor(bytes);
    let fingerprint: [u8; 16] = c.take(16)?.try_into().ok()?;
    let flags = *c.take(1)?.first()?;
    let status = StatusCode::from_u16(c.u16()?).ok()?;
    let n = c.u16()?;
    let mut headers = HeaderMap::with_capacity(usize::from(n));
    for _ in 0..n {
        let len = usize::from(c.u16()?);
        let name = HeaderName::from_bytes(c.take(len)?).ok()?;
        let len = usize::try_from(c.u32()?).ok()?;
        let value = HeaderValue::from_bytes(c.take(len)?).ok()?;
        headers.append(name, value);
    }
    let len = usize::try_from(c.u32()?).ok()?;
    let body = Bytes::copy_from_slice(c.take(len)?);
    Some(Record {
        fingerprint,
        flags,
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.append("set-cookie", HeaderValue::from_static("a=1"));
        headers.append("set-cookie", HeaderValue::from_static("b=2"));
        let r = Record {
            fingerprint: [7; 16],
            flags: 0,
            status: StatusCode::CREATED,
            headers,
            body: Bytes::from_static(b"{\"id\":1}"),
        };
        let bytes = encode(&r);
        let back = decode(&bytes).expect("decodes");
        assert_eq!(back.fingerprint, r.fingerprint);
        assert_eq!(back.status, StatusCode::CREATED);
        assert_eq!(back.headers, r.headers);
        assert_eq!(back.body, r.body);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_none(), "cut at {cut}");
        }
    }
}
