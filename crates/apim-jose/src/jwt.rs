//! RS256 JWTs with aws-lc: signing with the node's key, verification against every live key in the JWKS.
//! Only `RS256` is accepted: `alg: none`, HS256 keyed with the public key and anything else fail.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, KeyPair, RsaKeyPair, RsaPublicKeyComponents};
use serde_json::{Value, json};

use crate::crypto::{b64url, b64url_decode, sha256_b64url};

pub struct SigningKey {
    pair: RsaKeyPair,
    pub kid: String,
    /// The public JWK (RFC 7517), with `kid`, `use` and `alg`.
    pub jwk: Value,
    rng: SystemRandom,
}

#[derive(Debug, thiserror::Error)]
#[error("the signing key is not a usable RSA key (PKCS#8 or PKCS#1 DER)")]
pub struct NotRsa;

/// The RSA signature could not be made (aws-lc says no more).
#[derive(Debug, thiserror::Error)]
#[error("rsa signing failed")]
pub struct SignFailed;

impl SigningKey {
    pub fn from_der(der: &[u8]) -> Result<SigningKey, NotRsa> {
        let pair = RsaKeyPair::from_pkcs8(der).or_else(|_| RsaKeyPair::from_der(der)).map_err(|_| NotRsa)?;
        let public = pair.public_key();
        let n = b64url(public.modulus().big_endian_without_leading_zero());
        let e = b64url(public.exponent().big_endian_without_leading_zero());
        // RFC 7638 thumbprint: members in lexicographic order, no whitespace.
        let kid = sha256_b64url(&format!("{{\"e\":\"{e}\",\"kty\":\"RSA\",\"n\":\"{n}\"}}"));
        let jwk = json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": n, "e": e});
        Ok(SigningKey { pair, kid, jwk, rng: SystemRandom::new() })
    }

    /// Signs `claims` as a compact JWS.
    pub fn sign(&self, claims: &Value) -> Result<String, SignFailed> {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.kid});
        let signing_input = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair.sign(&signature::RSA_PKCS1_SHA256, &self.rng, signing_input.as_bytes(), &mut sig).map_err(|_| SignFailed)?;
        Ok(format!("{signing_input}.{}", b64url(&sig)))
    }

    /// Signs raw bytes: the benchmark's ceiling.
    pub fn sign_raw(&self, msg: &[u8]) -> Vec<u8> {
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        let _ = self.pair.sign(&signature::RSA_PKCS1_SHA256, &self.rng, msg, &mut sig);
        sig
    }
}

/// A verification key taken from a JWK.
#[derive(Clone, Debug)]
pub struct VerifyKey {
    pub kid: String,
    n: Vec<u8>,
    e: Vec<u8>,
}

impl VerifyKey {
    /// The key of a certificate (or public key) in PEM: it verifies a token whatever `kid` the token names, as a
    /// key manager registered with `certificates: {type: PEM}` has that one key.
    pub fn from_pem(pem: &str) -> Result<VerifyKey, crate::x509::CertError> {
        let (n, e) = crate::x509::rsa_public_key(pem)?;
        Ok(VerifyKey { kid: String::new(), n, e })
    }

    pub fn from_jwk(jwk: &Value) -> Option<VerifyKey> {
        if jwk.get("kty")?.as_str()? != "RSA" {
            return None;
        }
        Some(VerifyKey {
            kid: jwk.get("kid")?.as_str()?.to_string(),
            n: b64url_decode(jwk.get("n")?.as_str()?)?,
            e: b64url_decode(jwk.get("e")?.as_str()?)?,
        })
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum JwtError {
    Malformed,
    /// The header names an algorithm other than RS256, or no key we know.
    Rejected,
    BadSignature,
    UnknownKey(String),
}

/// Looks like a JWT (three base64url parts)? Used to route a presented token.
pub fn looks_like_jwt(token: &str) -> bool {
    token.len() > 20 && token.bytes().filter(|b| *b == b'.').count() == 2
}

/// The `kid` of a JWT's header, if it has one.
pub fn kid_of(token: &str) -> Option<String> {
    let header: Value = serde_json::from_slice(&b64url_decode(token.split('.').next()?)?).ok()?;
    Some(header.get("kid")?.as_str()?.to_string())
}

/// The `iss` a JWT's payload claims, before anything is verified: only to choose whose keys verify it.
pub fn unverified_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let claims: Value = serde_json::from_slice(&b64url_decode(payload)?).ok()?;
    Some(claims.get("iss")?.as_str()?.to_string())
}

/// Verifies an RS256 JWT against `keys`; returns its claims. Expiry is the caller's business.
pub fn verify(token: &str, keys: &[VerifyKey]) -> Result<Value, JwtError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(JwtError::Malformed);
    };
    let header: Value = serde_json::from_slice(&b64url_decode(h).ok_or(JwtError::Malformed)?).map_err(|_| JwtError::Malformed)?;
    if header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err(JwtError::Rejected);
    }
    let kid = header.get("kid").and_then(Value::as_str).unwrap_or_default();
    let key = keys.iter().find(|k| k.kid == kid || k.kid.is_empty()).ok_or_else(|| JwtError::UnknownKey(kid.to_string()))?;
    let sig = b64url_decode(s).ok_or(JwtError::Malformed)?;
    let signing_input_len = h.len() + 1 + p.len();
    let signing_input = token.get(..signing_input_len).ok_or(JwtError::Malformed)?;
    let public = RsaPublicKeyComponents { n: &key.n, e: &key.e };
    public.verify(&signature::RSA_PKCS1_2048_8192_SHA256, signing_input.as_bytes(), &sig).map_err(|_| JwtError::BadSignature)?;
    serde_json::from_slice(&b64url_decode(p).ok_or(JwtError::Malformed)?).map_err(|_| JwtError::Malformed)
}
