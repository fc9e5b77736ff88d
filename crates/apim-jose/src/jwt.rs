//! JWTs with aws-lc: signing with the node's key (RS256 by default; ES256 or EdDSA for a key manager that says so),
//! verification against every live key in the JWKS. A token's `alg` must be the one its key is for (`RS256` with an
//! RSA key, `ES256` with a P-256 one, `EdDSA` with an Ed25519 one): `alg: none`, HS256 keyed with the public key
//! and anything else fail.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::{Value, json};

use crate::crypto::{b64url, b64url_decode, sha256_b64url};

/// A JWS signature algorithm this crate signs and verifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    Rs256,
    Es256,
    EdDsa,
}

impl Alg {
    pub const ALL: [Alg; 3] = [Alg::Rs256, Alg::Es256, Alg::EdDsa];

    /// The JOSE name (`alg`).
    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
            Alg::EdDsa => "EdDSA",
        }
    }

    pub fn parse(s: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|a| a.name().eq_ignore_ascii_case(s))
    }
}

enum Pair {
    Rsa(RsaKeyPair),
    P256(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

pub struct SigningKey {
    pair: Pair,
    pub kid: String,
    /// The public JWK (RFC 7517), with `kid`, `use` and `alg`.
    pub jwk: Value,
    /// The token header's first part, encoded once: `{"alg":…,"typ":"JWT","kid":…}`.
    header: String,
    rng: SystemRandom,
}

#[derive(Debug, thiserror::Error)]
#[error("the signing key is not a usable RSA key (PKCS#8 or PKCS#1 DER)")]
pub struct NotRsa;

/// A key that is not a usable key for the algorithm.
#[derive(Debug, thiserror::Error)]
#[error("not a usable {0} key (PKCS#8 DER)")]
pub struct BadKey(pub &'static str);

/// The signature could not be made (aws-lc says no more).
#[derive(Debug, thiserror::Error)]
#[error("signing failed")]
pub struct SignFailed;

impl SigningKey {
    /// An RSA key (RS256), PKCS#8 or PKCS#1.
    pub fn from_der(der: &[u8]) -> Result<SigningKey, NotRsa> {
        let pair = RsaKeyPair::from_pkcs8(der).or_else(|_| RsaKeyPair::from_der(der)).map_err(|_| NotRsa)?;
        let public = pair.public_key();
        let n = b64url(public.modulus().big_endian_without_leading_zero());
        let e = b64url(public.exponent().big_endian_without_leading_zero());
        // RFC 7638 thumbprint: the required members in lexicographic order, no whitespace.
        let kid = sha256_b64url(&format!("{{\"e\":\"{e}\",\"kty\":\"RSA\",\"n\":\"{n}\"}}"));
        let jwk = json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": n, "e": e});
        Ok(SigningKey::new(Pair::Rsa(pair), kid, jwk))
    }

    /// A key for `alg` from PKCS#8 DER (RS256 also takes PKCS#1).
    pub fn from_pkcs8(alg: Alg, der: &[u8]) -> Result<SigningKey, BadKey> {
        match alg {
            Alg::Rs256 => SigningKey::from_der(der).map_err(|_| BadKey("RSA")),
            Alg::Es256 => {
                let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der).map_err(|_| BadKey("P-256"))?;
                // The public key is the uncompressed point 04 || x || y.
                let point = pair.public_key().as_ref().to_vec();
                let (x, y) = match point.as_slice() {
                    [4, rest @ ..] if rest.len() == 64 => (b64url(&rest[..32]), b64url(&rest[32..])),
                    _ => return Err(BadKey("P-256")),
                };
                let kid = sha256_b64url(&format!("{{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"{x}\",\"y\":\"{y}\"}}"));
                let jwk = json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256", "x": x, "y": y});
                Ok(SigningKey::new(Pair::P256(pair), kid, jwk))
            }
            Alg::EdDsa => {
                let pair = Ed25519KeyPair::from_pkcs8(der)
                    .or_else(|_| Ed25519KeyPair::from_pkcs8_maybe_unchecked(der))
                    .map_err(|_| BadKey("Ed25519"))?;
                let x = b64url(pair.public_key().as_ref());
                let kid = sha256_b64url(&format!("{{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"{x}\"}}"));
                let jwk = json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "use": "sig", "alg": "EdDSA", "x": x});
                Ok(SigningKey::new(Pair::Ed25519(pair), kid, jwk))
            }
        }
    }

    /// A new ES256 or EdDSA key as PKCS#8 DER, to keep and load with [`SigningKey::from_pkcs8`]; `None` for RS256
    /// (RSA keys come from the keystore, or are generated with the TLS certificate).
    pub fn generate_pkcs8(alg: Alg) -> Option<Vec<u8>> {
        let rng = SystemRandom::new();
        match alg {
            Alg::Rs256 => None,
            Alg::Es256 => EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).ok().map(|d| d.as_ref().to_vec()),
            Alg::EdDsa => Ed25519KeyPair::generate_pkcs8(&rng).ok().map(|d| d.as_ref().to_vec()),
        }
    }

    fn new(pair: Pair, kid: String, jwk: Value) -> SigningKey {
        let alg = match pair {
            Pair::Rsa(_) => Alg::Rs256,
            Pair::P256(_) => Alg::Es256,
            Pair::Ed25519(_) => Alg::EdDsa,
        };
        let header = b64url(json!({"alg": alg.name(), "typ": "JWT", "kid": kid}).to_string().as_bytes());
        SigningKey { pair, kid, jwk, header, rng: SystemRandom::new() }
    }

    pub fn alg(&self) -> Alg {
        match self.pair {
            Pair::Rsa(_) => Alg::Rs256,
            Pair::P256(_) => Alg::Es256,
            Pair::Ed25519(_) => Alg::EdDsa,
        }
    }

    /// Signs `claims` as a compact JWS.
    pub fn sign(&self, claims: &Value) -> Result<String, SignFailed> {
        let payload = b64url(claims.to_string().as_bytes());
        let mut token = String::with_capacity(self.header.len() + payload.len() + 360);
        token.push_str(&self.header);
        token.push('.');
        token.push_str(&payload);
        let sig = self.sign_raw(token.as_bytes())?;
        token.push('.');
        token.push_str(&b64url(&sig));
        Ok(token)
    }

    /// Signs raw bytes (a JWS signature: PKCS#1 v1.5, or ECDSA's fixed r || s, or Ed25519); also the benchmarks'
    /// ceiling.
    pub fn sign_raw(&self, msg: &[u8]) -> Result<Vec<u8>, SignFailed> {
        match &self.pair {
            Pair::Rsa(pair) => {
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign(&signature::RSA_PKCS1_SHA256, &self.rng, msg, &mut sig).map_err(|_| SignFailed)?;
                Ok(sig)
            }
            Pair::P256(pair) => pair.sign(&self.rng, msg).map(|s| s.as_ref().to_vec()).map_err(|_| SignFailed),
            Pair::Ed25519(pair) => Ok(pair.sign(msg).as_ref().to_vec()),
        }
    }
}

/// A verification key taken from a JWK (or a PEM certificate's RSA key).
#[derive(Clone, Debug)]
pub struct VerifyKey {
    pub kid: String,
    material: Material,
}

#[derive(Clone, Debug)]
enum Material {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// The uncompressed point 04 || x || y.
    P256(Vec<u8>),
    Ed25519(Vec<u8>),
}

impl VerifyKey {
    /// The key of a certificate (or public key) in PEM: it verifies a token whatever `kid` the token names, as a
    /// key manager registered with `certificates: {type: PEM}` has that one key.
    pub fn from_pem(pem: &str) -> Result<VerifyKey, crate::x509::CertError> {
        let (n, e) = crate::x509::rsa_public_key(pem)?;
        Ok(VerifyKey { kid: String::new(), material: Material::Rsa { n, e } })
    }

    /// An RSA, EC P-256 or OKP Ed25519 JWK; `None` for anything else or a malformed one.
    pub fn from_jwk(jwk: &Value) -> Option<VerifyKey> {
        let field = |name: &str| jwk.get(name).and_then(Value::as_str).and_then(b64url_decode);
        let material = match (jwk.get("kty")?.as_str()?, jwk.get("crv").and_then(Value::as_str)) {
            ("RSA", _) => Material::Rsa { n: field("n")?, e: field("e")? },
            ("EC", Some("P-256")) => {
                let (x, y) = (field("x")?, field("y")?);
                if x.len() != 32 || y.len() != 32 {
                    return None;
                }
                Material::P256([&[4u8][..], &x, &y].concat())
            }
            ("OKP", Some("Ed25519")) => {
                let x = field("x")?;
                if x.len() != 32 {
                    return None;
                }
                Material::Ed25519(x)
            }
            _ => return None,
        };
        Some(VerifyKey { kid: jwk.get("kid")?.as_str()?.to_string(), material })
    }

    /// The algorithm this key verifies.
    pub fn alg(&self) -> Alg {
        match self.material {
            Material::Rsa { .. } => Alg::Rs256,
            Material::P256(_) => Alg::Es256,
            Material::Ed25519(_) => Alg::EdDsa,
        }
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        match &self.material {
            Material::Rsa { n, e } => RsaPublicKeyComponents { n, e }.verify(&signature::RSA_PKCS1_2048_8192_SHA256, msg, sig).is_ok(),
            Material::P256(point) => UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point).verify(msg, sig).is_ok(),
            Material::Ed25519(x) => UnparsedPublicKey::new(&signature::ED25519, x).verify(msg, sig).is_ok(),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum JwtError {
    Malformed,
    /// The header names no algorithm we take, or one the named key is not for.
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

/// Verifies a JWT against `keys` (by its `kid`, with the key its `alg` is for); returns its claims. Expiry is the
/// caller's business.
pub fn verify(token: &str, keys: &[VerifyKey]) -> Result<Value, JwtError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(JwtError::Malformed);
    };
    let header: Value = serde_json::from_slice(&b64url_decode(h).ok_or(JwtError::Malformed)?).map_err(|_| JwtError::Malformed)?;
    let Some(alg) = header.get("alg").and_then(Value::as_str).and_then(Alg::parse) else {
        return Err(JwtError::Rejected);
    };
    let kid = header.get("kid").and_then(Value::as_str).unwrap_or_default();
    let named = |k: &&VerifyKey| k.kid == kid || k.kid.is_empty();
    if !keys.iter().any(|k| named(&k)) {
        return Err(JwtError::UnknownKey(kid.to_string()));
    }
    // A key of another kind than `alg` says is never tried: no algorithm confusion.
    let key = keys.iter().filter(named).find(|k| k.alg() == alg).ok_or(JwtError::Rejected)?;
    let sig = b64url_decode(s).ok_or(JwtError::Malformed)?;
    let signing_input_len = h.len() + 1 + p.len();
    let signing_input = token.get(..signing_input_len).ok_or(JwtError::Malformed)?;
    if !key.verify(signing_input.as_bytes(), &sig) {
        return Err(JwtError::BadSignature);
    }
    serde_json::from_slice(&b64url_decode(p).ok_or(JwtError::Malformed)?).map_err(|_| JwtError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rsa() -> SigningKey {
        let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa key");
        let der = aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::Pkcs8V1Der<'_>>::as_der(&pair).expect("pkcs8");
        SigningKey::from_der(der.as_ref()).expect("rsa")
    }

    fn keys_of(k: &SigningKey) -> Vec<VerifyKey> {
        VerifyKey::from_jwk(&k.jwk).into_iter().collect()
    }

    #[test]
    fn each_algorithm_signs_and_verifies_with_its_published_key() {
        let claims = json!({"sub": "a", "n": 1});
        let es = SigningKey::from_pkcs8(Alg::Es256, &SigningKey::generate_pkcs8(Alg::Es256).expect("p256")).expect("es256");
        let ed = SigningKey::from_pkcs8(Alg::EdDsa, &SigningKey::generate_pkcs8(Alg::EdDsa).expect("ed25519")).expect("eddsa");
        for (key, kty) in [(rsa(), "RSA"), (es, "EC"), (ed, "OKP")] {
            assert_eq!(key.jwk["kty"], kty);
            assert_eq!(key.jwk["alg"], key.alg().name());
            let token = key.sign(&claims).expect("sign");
            let header: Value = serde_json::from_slice(&b64url_decode(token.split('.').next().expect("h")).expect("b64")).expect("json");
            assert_eq!(header["alg"], key.alg().name());
            assert_eq!(header["kid"], key.kid.as_str());
            assert_eq!(verify(&token, &keys_of(&key)).expect("verifies"), claims);
            // One flipped signature byte, or another key of the same kind: refused.
            let mut bad = token.clone().into_bytes();
            let last = bad.len() - 2;
            bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
            assert_eq!(verify(&String::from_utf8(bad).expect("utf8"), &keys_of(&key)), Err(JwtError::BadSignature));
        }
    }

    #[test]
    fn a_token_is_only_tried_with_a_key_of_its_algorithm() {
        let rsa = rsa();
        let es = SigningKey::from_pkcs8(Alg::Es256, &SigningKey::generate_pkcs8(Alg::Es256).expect("p256")).expect("es256");
        let token = es.sign(&json!({"sub": "a"})).expect("sign");
        // The ES256 token's kid names the RSA key: refused without trying it.
        let mut rsa_under_es_kid = keys_of(&rsa);
        rsa_under_es_kid[0].kid = es.kid.clone();
        assert_eq!(verify(&token, &rsa_under_es_kid), Err(JwtError::Rejected));
        assert_eq!(verify(&token, &keys_of(&rsa)), Err(JwtError::UnknownKey(es.kid.clone())));
        // `alg` rewritten to RS256 over an ES256 signature: the RSA key refuses it.
        let (_, rest) = token.split_once('.').expect("parts");
        let forged_header = b64url(json!({"alg": "RS256", "typ": "JWT", "kid": rsa.kid}).to_string().as_bytes());
        assert_eq!(verify(&format!("{forged_header}.{rest}"), &keys_of(&rsa)), Err(JwtError::BadSignature));
        for alg in ["none", "HS256", "ES384", ""] {
            let h = b64url(json!({"alg": alg, "kid": es.kid}).to_string().as_bytes());
            assert_eq!(verify(&format!("{h}.{rest}"), &keys_of(&es)), Err(JwtError::Rejected), "{alg}");
        }
    }

    #[test]
    fn malformed_keys_are_refused() {
        assert!(SigningKey::from_pkcs8(Alg::Es256, b"not a key").is_err());
        assert!(SigningKey::from_pkcs8(Alg::EdDsa, &SigningKey::generate_pkcs8(Alg::Es256).expect("p256")).is_err());
        assert!(SigningKey::generate_pkcs8(Alg::Rs256).is_none());
        for jwk in [
            json!({"kty": "EC", "crv": "P-384", "kid": "k", "x": "AA", "y": "AA"}),
            json!({"kty": "EC", "crv": "P-256", "kid": "k", "x": "AA", "y": "AA"}),
            json!({"kty": "OKP", "crv": "X25519", "kid": "k", "x": b64url(&[0u8; 32])}),
            json!({"kty": "OKP", "crv": "Ed25519", "kid": "k", "x": "!!"}),
            json!({"kty": "oct", "kid": "k", "k": "AA"}),
        ] {
            assert!(VerifyKey::from_jwk(&jwk).is_none(), "{jwk}");
        }
    }
}
