//! W3C Trace Context for the gateway's OpenTelemetry spans: the client's `traceparent` is continued (its trace
//! id, its span as the parent, its sampling decision), or a trace is started here and sampled by ratio; the
//! backend gets a `traceparent` naming the gateway's upstream span.

use std::cell::Cell;

/// The ids of one request's spans, decided before the chain runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceIds {
    pub trace: [u8; 16],
    /// The client's span, when it sent a `traceparent`.
    pub parent: Option<[u8; 8]>,
    /// The gateway's server span, and its children.
    pub server: [u8; 8],
    pub auth: [u8; 8],
    pub throttle: [u8; 8],
    pub upstream: [u8; 8],
    /// Recorded and exported; an unsampled trace is still passed on to the backend with its flag clear.
    pub sampled: bool,
}

impl TraceIds {
    /// From a request's `traceparent` (RFC: W3C Trace Context §3.2), or new when it has none or a malformed one
    /// (the spec says to start a new trace then). `ratio` samples traces that start here.
    pub fn for_request(traceparent: Option<&[u8]>, ratio: f64) -> TraceIds {
        let mut ids = TraceIds {
            trace: [0; 16],
            parent: None,
            server: span_id(),
            auth: span_id(),
            throttle: span_id(),
            upstream: span_id(),
            sampled: false,
        };
        match traceparent.and_then(parse) {
            Some((trace, parent, sampled)) => {
                ids.trace = trace;
                ids.parent = Some(parent);
                ids.sampled = sampled;
            }
            None => {
                ids.trace = random_id();
                // The trace id's last 8 bytes decide, as OpenTelemetry's TraceIdRatioBased sampler does.
                let low = u64::from_be_bytes([
                    ids.trace[8],
                    ids.trace[9],
                    ids.trace[10],
                    ids.trace[11],
                    ids.trace[12],
                    ids.trace[13],
                    ids.trace[14],
                    ids.trace[15],
                ]);
                ids.sampled = ratio >= 1.0 || (low >> 11) < (ratio * (1u64 << 53) as f64) as u64;
            }
        }
        ids
    }

    /// The `traceparent` the backend gets: this trace, the gateway's upstream span as its parent.
    pub fn upstream_traceparent(&self) -> Traceparent {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut v = *b"00-00000000000000000000000000000000-0000000000000000-00";
        for (i, b) in self.trace.iter().chain(&self.upstream).enumerate() {
            // The trace id's 32 digits start at 3, the span id's 16 at 36.
            let at = if i < 16 { 3 + 2 * i } else { 36 + 2 * (i - 16) };
            v[at] = DIGITS[usize::from(b >> 4)];
            v[at + 1] = DIGITS[usize::from(b & 15)];
        }
        if self.sampled {
            v[54] = b'1';
        }
        Traceparent(v)
    }
}

/// A `traceparent` value (version 00): hex digits and dashes only. Kept as bytes, so the inline client can write
/// it into a request's head without building, checking and dropping a `HeaderValue`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Traceparent([u8; 55]);

impl Traceparent {
    pub const NAME: http::HeaderName = http::HeaderName::from_static("traceparent");

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn header_value(&self) -> http::HeaderValue {
        // Hex digits and dashes only: always a valid header value.
        http::HeaderValue::from_bytes(&self.0)
            .unwrap_or_else(|_| http::HeaderValue::from_static("00-00000000000000000000000000000000-0000000000000000-00"))
    }
}

/// `version-traceid-parentid-flags`, version 00 (a later version is read by its first four fields, as the spec
/// asks); all-zero ids are invalid.
fn parse(v: &[u8]) -> Option<([u8; 16], [u8; 8], bool)> {
    let s = std::str::from_utf8(v).ok()?.trim();
    let mut parts = s.split('-');
    let (version, trace, parent, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if version.len() != 2 || version == "ff" || (version == "00" && parts.next().is_some()) {
        return None;
    }
    let lower_hex = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !lower_hex(version, 2) || !lower_hex(trace, 32) || !lower_hex(parent, 16) || !lower_hex(flags, 2) {
        return None;
    }
    let mut t = [0u8; 16];
    let mut p = [0u8; 8];
    unhex(trace, &mut t)?;
    unhex(parent, &mut p)?;
    if t == [0; 16] || p == [0; 8] {
        return None;
    }
    let flags = u8::from_str_radix(flags, 16).ok()?;
    Some((t, p, flags & 1 == 1))
}

fn unhex(s: &str, out: &mut [u8]) -> Option<()> {
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(())
}

#[cfg(test)]
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// 128 random bits (correlation ids of untraced requests).
pub fn random_id() -> [u8; 16] {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&next().to_be_bytes());
    id[8..].copy_from_slice(&next().to_be_bytes());
    id
}

fn span_id() -> [u8; 8] {
    // Never all zero (invalid): the generator's output is zero once in 2^64 draws; draw again then.
    loop {
        let n = next();
        if n != 0 {
            return n.to_be_bytes();
        }
    }
}

thread_local! {
    /// Per-thread SplitMix64, seeded from the system's random source: ids must be unique, not secret.
    static STATE: Cell<u64> = Cell::new(u64::from_be_bytes(apim_jose::crypto::random_bytes::<8>()));
}

fn next() -> u64 {
    STATE.with(|s| {
        let x = s.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        s.set(x);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_trace_is_continued_and_a_bad_one_restarted() {
        let tp = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let ids = TraceIds::for_request(Some(tp), 0.0);
        assert_eq!(hex(&ids.trace), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(ids.parent.map(|p| hex(&p)).as_deref(), Some("00f067aa0ba902b7"));
        assert!(ids.sampled, "the client's flag decides, not the ratio");
        let header = ids.upstream_traceparent().header_value();
        let header = header.to_str().expect("ascii");
        assert_eq!(&header[..36], "00-4bf92f3577b34da6a3ce929d0e0e4736-");
        assert_eq!(&header[36..52], hex(&ids.upstream));
        assert!(header.ends_with("-01"));
        let unsampled = TraceIds::for_request(Some(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"), 1.0);
        assert!(!unsampled.sampled && unsampled.upstream_traceparent().header_value().to_str().is_ok_and(|h| h.ends_with("-00")));
        // A later version is read by its first fields.
        assert!(TraceIds::for_request(Some(b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what"), 0.0).parent.is_some());
        for bad in [
            &b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"[..],
            b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            b"\xff\xfe",
        ] {
            let ids = TraceIds::for_request(Some(bad), 1.0);
            assert!(ids.parent.is_none() && ids.sampled, "{:?} starts a new trace", String::from_utf8_lossy(bad));
            assert_ne!(ids.trace, [0; 16]);
        }
    }

    #[test]
    fn new_traces_are_sampled_by_ratio() {
        let n = 20_000;
        let sampled = (0..n).filter(|_| TraceIds::for_request(None, 0.25).sampled).count();
        assert!((4_000..6_000).contains(&sampled), "{sampled} of {n} at 0.25");
        assert_eq!((0..1000).filter(|_| TraceIds::for_request(None, 0.0).sampled).count(), 0);
        let a = TraceIds::for_request(None, 1.0);
        let b = TraceIds::for_request(None, 1.0);
        assert_ne!(a.trace, b.trace);
        assert_ne!(a.server, a.upstream);
    }
}
