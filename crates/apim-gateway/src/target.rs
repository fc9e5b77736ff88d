//! The canonical request target: the one path that routing, authentication, scopes, throttle keys, the access
//! log and the forwarded request all use, decided once before routing.
//!
//! A proxy that routes one spelling of a path and forwards another lets a client reach a backend path the gateway
//! never authorized (`/x/../admin` matched by `/*` but served as `/admin`). So the path is put in one form first:
//! - percent-escapes of unreserved characters are decoded (RFC 3986 §6.2.2.2), other escapes upper-cased;
//! - an escaped `/` or `\` (`%2F`, `%5C`) is refused unless the policy keeps it, since backends disagree on whether
//!   it separates segments (Envoy's advice); a raw `\` is refused always;
//! - dot segments are removed (RFC 3986 §5.2.4), so nothing climbs above the API's context or an endpoint's base
//!   path; a segment `..;x` or `.;x` (Tomcat reads it as a dot segment) is refused;
//! - duplicate slashes are merged when the policy says so.
//!
//! Imports nothing else from the crate, so it can be tested and fuzzed alone.

use std::borrow::Cow;

/// How `%2F` and `%5C` in a path are treated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EncodedSlash {
    /// 400 (the default).
    #[default]
    Reject,
    /// Kept encoded (upper-cased), never decoded: they stay part of one segment.
    Keep,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PathPolicy {
    pub encoded_slash: EncodedSlash,
    /// `//` becomes `/`.
    pub merge_slashes: bool,
}

/// Why a request target was refused; each is a client error (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("the request path must start with `/`")]
    NotAbsolute,
    #[error("the request path has a `%` not followed by two hexadecimal digits")]
    BadEscape,
    #[error("the request path has an encoded `/` or `\\` (%2F, %5C)")]
    EncodedSlash,
    #[error("the request path has a `\\`")]
    Backslash,
    #[error("the request path has a dot segment with parameters (`..;` or `.;`)")]
    DotParameter,
    #[error("the request path has a NUL or control character")]
    Control,
}

/// The canonical form of `path` (no query). Borrowed when `path` already is canonical, which is the common case
/// and costs one scan.
pub fn canonical(path: &str, policy: PathPolicy) -> Result<Cow<'_, str>, TargetError> {
    let b = path.as_bytes();
    if b.first() != Some(&b'/') {
        return Err(TargetError::NotAbsolute);
    }
    if is_canonical(b, policy) {
        return Ok(Cow::Borrowed(path));
    }
    let decoded = decode(b, policy)?;
    let merged = if policy.merge_slashes { merge_slashes(&decoded) } else { decoded };
    Ok(Cow::Owned(remove_dot_segments(&merged)?))
}

/// True when nothing in `b` would change: no escape, no dot segment, no backslash or control byte, and no `//`
/// when slashes are merged.
fn is_canonical(b: &[u8], policy: PathPolicy) -> bool {
    let mut prev = 0u8;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'%' | b'\\' => return false,
            c if c < 0x20 || c == 0x7f => return false,
            b'.' if prev == b'/' => {
                // `/.` starts a dot segment when followed by `/`, `;`, the end, or `.` then one of those.
                let rest = &b[i + 1..];
                let after = if rest.first() == Some(&b'.') { &rest[1..] } else { rest };
                if matches!(after.first(), None | Some(b'/') | Some(b';')) {
                    return false;
                }
            }
            b'/' if prev == b'/' && policy.merge_slashes => return false,
            _ => {}
        }
        prev = c;
    }
    true
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')
}

/// Decodes escapes of unreserved characters, upper-cases the rest, refuses what the policy refuses.
fn decode(b: &[u8], policy: PathPolicy) -> Result<String, TargetError> {
    const UPPER: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'%' => {
                let (Some(h), Some(l)) = (b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) else {
                    return Err(TargetError::BadEscape);
                };
                let v = h << 4 | l;
                if unreserved(v) {
                    out.push(char::from(v));
                } else if v == b'/' || v == b'\\' {
                    if policy.encoded_slash == EncodedSlash::Reject {
                        return Err(TargetError::EncodedSlash);
                    }
                    push_escape(&mut out, v, UPPER);
                } else if v < 0x20 || v == 0x7f {
                    return Err(TargetError::Control);
                } else {
                    push_escape(&mut out, v, UPPER);
                }
                i += 3;
            }
            b'\\' => return Err(TargetError::Backslash),
            c if c < 0x20 || c == 0x7f => return Err(TargetError::Control),
            _ => {
                // Non-ASCII bytes cannot be in a parsed URI, but the input is a `str`: copy its characters whole.
                let ch_len = utf8_len(c);
                out.push_str(std::str::from_utf8(&b[i..(i + ch_len).min(b.len())]).unwrap_or("\u{fffd}"));
                i += ch_len;
            }
        }
    }
    Ok(out)
}

fn push_escape(out: &mut String, v: u8, upper: &[u8; 16]) {
    out.push('%');
    out.push(char::from(upper[usize::from(v >> 4)]));
    out.push(char::from(upper[usize::from(v & 0xf)]));
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

fn merge_slashes(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    let mut prev_slash = false;
    for ch in p.chars() {
        if ch == '/' && prev_slash {
            continue;
        }
        prev_slash = ch == '/';
        out.push(ch);
    }
    out
}

/// RFC 3986 §5.2.4 on an absolute path, segment by segment. `/a/./b/../c/` → `/a/c/`; `/..` → `/`.
fn remove_dot_segments(p: &str) -> Result<String, TargetError> {
    let mut kept: Vec<&str> = Vec::new();
    let segments: Vec<&str> = p[1..].split('/').collect();
    let last = segments.len().saturating_sub(1);
    // A path ending in a dot segment ends in `/` (`/a/..` → `/`, `/a/b/.` → `/a/b/`).
    let mut trailing_slash = false;
    for (i, seg) in segments.iter().enumerate() {
        let dots = seg.split(';').next().unwrap_or("");
        if (dots == "." || dots == "..") && seg.len() != dots.len() {
            return Err(TargetError::DotParameter);
        }
        match *seg {
            "." => trailing_slash = i == last,
            ".." => {
                kept.pop();
                trailing_slash = i == last;
            }
            s => {
                kept.push(s);
                trailing_slash = false;
            }
        }
    }
    let mut out = String::with_capacity(p.len());
    for s in &kept {
        out.push('/');
        out.push_str(s);
    }
    if trailing_slash || out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(p: &str) -> Result<String, TargetError> {
        canonical(p, PathPolicy::default()).map(Cow::into_owned)
    }

    #[test]
    fn canonical_paths_are_borrowed() {
        for p in ["/", "/pizzashack/1.0.0/menu", "/a/b.c/.well-known/x..y/...", "/a//b", "/a/b;c=d", "/~user/x-y_z"] {
            assert!(matches!(canonical(p, PathPolicy::default()), Ok(Cow::Borrowed(_))), "{p}");
            assert_eq!(c(p).as_deref(), Ok(p));
        }
    }

    #[test]
    fn dot_segments_and_escapes() {
        let table = [
            ("/ctx/1.0.0/x/../admin", "/ctx/1.0.0/admin"),
            ("/ctx/1.0.0/./admin", "/ctx/1.0.0/admin"),
            ("/ctx/1.0.0/x/%2e%2e/admin", "/ctx/1.0.0/admin"),
            ("/ctx/1.0.0/x/%2E%2E/admin", "/ctx/1.0.0/admin"),
            ("/ctx/1.0.0/x/.%2e/admin", "/ctx/1.0.0/admin"),
            ("/ctx/1.0.0/x/%2e./admin", "/ctx/1.0.0/admin"),
            ("/ctx/1.0.0/%2e/admin", "/ctx/1.0.0/admin"),
            ("/ctx/1.0.0/../../../etc/passwd", "/etc/passwd"),
            ("/..", "/"),
            ("/../..", "/"),
            ("/a/..", "/"),
            ("/a/b/.", "/a/b/"),
            ("/a/b/..", "/a/"),
            ("/a/%61dmin", "/a/admin"),
            ("/a/%7Euser", "/a/~user"),
            ("/a/%3f", "/a/%3F"),
            ("/a/%20b", "/a/%20b"),
            ("/a/%c3%a9", "/a/%C3%A9"),
            ("/a/...", "/a/..."),
            ("/a//../b", "/a/b"),
        ];
        for (input, want) in table {
            assert_eq!(c(input).as_deref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn refused_forms() {
        let table = [
            ("x/y", TargetError::NotAbsolute),
            ("", TargetError::NotAbsolute),
            ("*", TargetError::NotAbsolute),
            ("/a/%2F../admin", TargetError::EncodedSlash),
            ("/a/%2f", TargetError::EncodedSlash),
            ("/a/%5C..%5Cadmin", TargetError::EncodedSlash),
            ("/a/..\\admin", TargetError::Backslash),
            ("/a/%", TargetError::BadEscape),
            ("/a/%2", TargetError::BadEscape),
            ("/a/%zz", TargetError::BadEscape),
            ("/a/%00", TargetError::Control),
            ("/a/%0a", TargetError::Control),
            ("/a/..;/admin", TargetError::DotParameter),
            ("/a/.;x/admin", TargetError::DotParameter),
            ("/a/%2e%2e;/admin", TargetError::DotParameter),
        ];
        for (input, want) in table {
            assert_eq!(c(input), Err(want), "{input}");
        }
    }

    #[test]
    fn policy_keeps_encoded_slashes_and_merges() {
        let keep = PathPolicy { encoded_slash: EncodedSlash::Keep, merge_slashes: false };
        assert_eq!(canonical("/a/%2f../b", keep).map(Cow::into_owned), Ok("/a/%2F../b".to_string()));
        assert_eq!(canonical("/a/x%2F..%2Fadmin", keep).map(Cow::into_owned), Ok("/a/x%2F..%2Fadmin".to_string()));
        let merge = PathPolicy { encoded_slash: EncodedSlash::Reject, merge_slashes: true };
        assert_eq!(canonical("//a///b/", merge).map(Cow::into_owned), Ok("/a/b/".to_string()));
        assert_eq!(canonical("/a//b", PathPolicy::default()).map(Cow::into_owned), Ok("/a//b".to_string()));
    }

    /// Whatever the input, the output is a fixed point and never holds a dot segment.
    #[test]
    fn output_is_stable() {
        let pieces = ["/", ".", "..", "%2e", "%2E", "a", "%41", "//", ";", "%25", "~", "%7e"];
        let mut n = 0u32;
        for a in pieces {
            for b in pieces {
                for d in pieces {
                    for e in pieces {
                        let p = format!("/{a}{b}{d}{e}");
                        if let Ok(out) = c(&p) {
                            n += 1;
                            assert_eq!(c(&out).as_deref(), Ok(out.as_str()), "{p}");
                            assert!(!out.split('/').any(|s| s == "." || s == ".."), "{p} → {out}");
                        }
                    }
                }
            }
        }
        assert!(n > 1000);
    }
}
