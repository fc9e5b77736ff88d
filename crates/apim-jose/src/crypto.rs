//! Small primitives: random tokens, hashes, constant-time comparison, base64url.

use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// 256 random bits, base64url: opaque tokens, refresh tokens, codes, client secrets.
pub fn random_token() -> String {
    let mut buf = [0u8; 32];
    // The system RNG failing is not recoverable; aws-lc aborts in that case anyway.
    let _ = SystemRandom::new().fill(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// `N` bytes from the system's random source (seeds and ids).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    let _ = SystemRandom::new().fill(&mut buf);
    buf
}

/// A client id: 128 random bits, WSO2-like length.
pub fn random_client_id() -> String {
    let mut buf = [0u8; 16];
    let _ = SystemRandom::new().fill(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// SHA-256, hex. Tokens and secrets are 256-bit random values, so an unkeyed hash is already irreversible;
/// no key has to be shared between key-manager nodes.
pub fn sha256_hex(s: &str) -> String {
    hex(&sha256(s.as_bytes()))
}

pub fn sha256_b64url(s: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, s.as_bytes()).as_ref())
}

pub fn ct_eq(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

pub fn b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).ok()
}

/// SHA-256 of raw bytes: cache keys for presented tokens.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, data).as_ref());
    out
}

/// Lower-case hex.
pub fn hex(data: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(data.len() * 2);
    for b in data {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}
