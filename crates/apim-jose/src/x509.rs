//! The RSA public key of an X.509 certificate (or of a bare `PUBLIC KEY`), as WSO2's key managers registered with
//! `certificates: {type: PEM}` publish their signing key. A DER walk of just the fields on the way to the key:
//! every length is checked against what is left, so a malformed or hostile certificate is an error, never a panic.

use base64::Engine;

/// Why a PEM gives no RSA public key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("no PEM CERTIFICATE or PUBLIC KEY block (nor the base64 of one)")]
    NotPem,
    #[error("the PEM block is not valid base64")]
    Base64,
    #[error("the DER structure is malformed at {0}")]
    Der(&'static str),
    #[error("the key is not an RSA key")]
    NotRsa,
}

/// rsaEncryption, 1.2.840.113549.1.1.1.
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// `(n, e)` of the RSA key in `pem`: a certificate, a public key, or either base64-encoded once more (WSO2's
/// Admin portal sends the file's content that way).
pub fn rsa_public_key(pem: &str) -> Result<(Vec<u8>, Vec<u8>), CertError> {
    let text = if pem.contains("-----BEGIN") {
        pem.to_string()
    } else {
        let raw: String = pem.split_whitespace().collect();
        let decoded = base64::engine::general_purpose::STANDARD.decode(raw).map_err(|_| CertError::NotPem)?;
        String::from_utf8(decoded).map_err(|_| CertError::NotPem)?
    };
    for (label, certificate) in [("CERTIFICATE", true), ("PUBLIC KEY", false)] {
        if let Some(der) = block(&text, label)? {
            let spki = if certificate { spki_of_certificate(&der)? } else { der };
            return rsa_of_spki(&spki);
        }
    }
    Err(CertError::NotPem)
}

fn block(text: &str, label: &str) -> Result<Option<Vec<u8>>, CertError> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let Some(rest) = text.split_once(&begin).map(|(_, r)| r) else { return Ok(None) };
    let body = rest.split_once(&end).map(|(b, _)| b).ok_or(CertError::NotPem)?;
    let b64: String = body.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD.decode(b64).map(Some).map_err(|_| CertError::Base64)
}

/// One DER element: `(tag, content, rest)`.
fn element<'a>(input: &'a [u8], at: &'static str) -> Result<(u8, &'a [u8], &'a [u8]), CertError> {
    let bad = || CertError::Der(at);
    let (&tag, rest) = input.split_first().ok_or_else(bad)?;
    let (&first, mut rest) = rest.split_first().ok_or_else(bad)?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return Err(bad());
        }
        let (bytes, after) = rest.split_at(count);
        rest = after;
        bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    if rest.len() < len {
        return Err(bad());
    }
    let (content, after) = rest.split_at(len);
    Ok((tag, content, after))
}

fn expect<'a>(input: &'a [u8], tag: u8, at: &'static str) -> Result<(&'a [u8], &'a [u8]), CertError> {
    let (t, content, rest) = element(input, at)?;
    if t != tag { Err(CertError::Der(at)) } else { Ok((content, rest)) }
}

const SEQUENCE: u8 = 0x30;

/// Certificate → tbsCertificate → subjectPublicKeyInfo (the whole element, tag and length included).
fn spki_of_certificate(der: &[u8]) -> Result<Vec<u8>, CertError> {
    let (cert, _) = expect(der, SEQUENCE, "Certificate")?;
    let (tbs, _) = expect(cert, SEQUENCE, "tbsCertificate")?;
    let mut rest = tbs;
    // [0] version is optional.
    if rest.first() == Some(&0xa0) {
        rest = element(rest, "version")?.2;
    }
    for at in ["serialNumber", "signature", "issuer", "validity", "subject"] {
        rest = element(rest, at)?.2;
    }
    let (_, spki_content, after) = element(rest, "subjectPublicKeyInfo")?;
    let whole = rest.len() - after.len();
    if spki_content.is_empty() {
        return Err(CertError::Der("subjectPublicKeyInfo"));
    }
    Ok(rest[..whole].to_vec())
}

fn rsa_of_spki(spki: &[u8]) -> Result<(Vec<u8>, Vec<u8>), CertError> {
    let (info, _) = expect(spki, SEQUENCE, "subjectPublicKeyInfo")?;
    let (algorithm, rest) = expect(info, SEQUENCE, "algorithm")?;
    let (oid, _) = expect(algorithm, 0x06, "algorithm")?;
    if oid != RSA_ENCRYPTION {
        return Err(CertError::NotRsa);
    }
    let (bits, _) = expect(rest, 0x03, "subjectPublicKey")?;
    let (&unused, key) = bits.split_first().ok_or(CertError::Der("subjectPublicKey"))?;
    if unused != 0 {
        return Err(CertError::Der("subjectPublicKey"));
    }
    let (rsa, _) = expect(key, SEQUENCE, "RSAPublicKey")?;
    let (n, rest) = expect(rsa, 0x02, "modulus")?;
    let (e, _) = expect(rest, 0x02, "publicExponent")?;
    let strip = |v: &[u8]| v.iter().position(|b| *b != 0).map_or_else(Vec::new, |i| v[i..].to_vec());
    let (n, e) = (strip(n), strip(e));
    if n.is_empty() || e.is_empty() {
        return Err(CertError::Der("RSAPublicKey"));
    }
    Ok((n, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_input_is_an_error_not_a_panic() {
        assert_eq!(rsa_public_key("hello"), Err(CertError::NotPem));
        assert_eq!(rsa_public_key("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----"), Err(CertError::Base64));
        let cut = "-----BEGIN CERTIFICATE-----\nMIIBCgKCAQEA\n-----END CERTIFICATE-----";
        assert!(matches!(rsa_public_key(cut), Err(CertError::Der(_))));
        // A length that claims more than there is, and an over-long length of length.
        for der in [&[0x30u8, 0x82, 0xff, 0xff, 0x00][..], &[0x30, 0x85, 1, 2, 3, 4, 5], &[0x30], &[]] {
            let pem = format!(
                "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----",
                base64::engine::general_purpose::STANDARD.encode(der)
            );
            assert!(matches!(rsa_public_key(&pem), Err(CertError::Der(_))), "{der:?}");
        }
    }
}
