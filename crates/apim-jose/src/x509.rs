//! The RSA public key of an X.509 certificate (or of a bare `PUBLIC KEY`), as WSO2's key managers registered with
//! `certificates: {type: PEM}` publish their signing key; and a certificate's version, serial, names and validity
//! ([`certificate`]), which the Publisher shows for endpoint certificates. A DER walk of just the fields on the way to the key:
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

/// What a certificate says about itself: the fields WSO2's Publisher shows for an endpoint certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    /// 1, 2 or 3 (`V3` in WSO2's answer).
    pub version: u8,
    /// The serial number's bytes, big-endian.
    pub serial: Vec<u8>,
    /// Distinguished names as Java prints them: most specific first, `CN=…, OU=…, O=…`.
    pub subject: String,
    pub issuer: String,
    /// Validity bounds, Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// The certificate's DER, as read.
    pub der: Vec<u8>,
}

/// The first `CERTIFICATE` block of `pem`, read as far as its validity, names and serial.
pub fn certificate(pem: &str) -> Result<Certificate, CertError> {
    certificate_der(&block(pem, "CERTIFICATE")?.ok_or(CertError::NotPem)?)
}

/// [`certificate`] of a certificate's DER.
pub fn certificate_der(der: &[u8]) -> Result<Certificate, CertError> {
    let (cert, _) = expect(der, SEQUENCE, "Certificate")?;
    let (tbs, _) = expect(cert, SEQUENCE, "tbsCertificate")?;
    let mut rest = tbs;
    let mut version = 1;
    if rest.first() == Some(&0xa0) {
        let (_, explicit, after) = element(rest, "version")?;
        let (v, _) = expect(explicit, 0x02, "version")?;
        version = match v {
            [n @ 0..=2] => n + 1,
            _ => return Err(CertError::Der("version")),
        };
        rest = after;
    }
    let (serial, rest) = expect(rest, 0x02, "serialNumber")?;
    let (_, _, rest) = element(rest, "signature")?;
    let (issuer, rest) = expect(rest, SEQUENCE, "issuer")?;
    let (validity, rest) = expect(rest, SEQUENCE, "validity")?;
    let (subject, _) = expect(rest, SEQUENCE, "subject")?;
    let (not_before, after) = time(validity, "notBefore")?;
    let (not_after, _) = time(after, "notAfter")?;
    Ok(Certificate {
        version,
        serial: serial.to_vec(),
        subject: name(subject, "subject")?,
        issuer: name(issuer, "issuer")?,
        not_before,
        not_after,
        der: der.to_vec(),
    })
}

/// UTCTime (`YYMMDDHHMMSSZ`, years 1950–2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) as Unix seconds.
fn time<'a>(input: &'a [u8], at: &'static str) -> Result<(i64, &'a [u8]), CertError> {
    let (tag, text, rest) = element(input, at)?;
    let bad = || CertError::Der(at);
    let (year, tail) = match (tag, text.len()) {
        (0x17, 13) => {
            let yy = digits(&text[..2]).ok_or_else(bad)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        (0x18, 15) => (digits(&text[..4]).ok_or_else(bad)?, &text[4..]),
        _ => return Err(bad()),
    };
    if tail.get(10) != Some(&b'Z') {
        return Err(bad());
    }
    let field = |i: usize| digits(&tail[i..i + 2]).ok_or_else(bad);
    let (month, day, hour, minute, second) = (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return Err(bad());
    }
    Ok((days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second, rest))
}

fn digits(b: &[u8]) -> Option<i64> {
    b.iter().try_fold(0i64, |acc, c| c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0')))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A Name (RDNSequence) as `CN=…, O=…`: relative names in reverse order, as Java's `X500Principal` prints them.
fn name(mut rdns: &[u8], at: &'static str) -> Result<String, CertError> {
    let mut parts = Vec::new();
    while !rdns.is_empty() {
        let (set, after) = expect(rdns, 0x31, at)?;
        rdns = after;
        let mut attrs = Vec::new();
        let mut rest = set;
        while !rest.is_empty() {
            let (pair, after) = expect(rest, SEQUENCE, at)?;
            rest = after;
            let (oid, value) = expect(pair, 0x06, at)?;
            let (tag, text, _) = element(value, at)?;
            let text = match tag {
                // BMPString: UTF-16BE.
                0x1e => {
                    let units: Vec<u16> = text.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
                    String::from_utf16_lossy(&units)
                }
                _ => String::from_utf8_lossy(text).into_owned(),
            };
            attrs.push(format!("{}={text}", attribute_name(oid)));
        }
        parts.push(attrs.join("+"));
    }
    parts.reverse();
    Ok(parts.join(", "))
}

/// The short name Java uses for an attribute type, else its dotted OID.
fn attribute_name(oid: &[u8]) -> String {
    match oid {
        [0x55, 0x04, 0x03] => "CN".into(),
        [0x55, 0x04, 0x05] => "SERIALNUMBER".into(),
        [0x55, 0x04, 0x06] => "C".into(),
        [0x55, 0x04, 0x07] => "L".into(),
        [0x55, 0x04, 0x08] => "ST".into(),
        [0x55, 0x04, 0x09] => "STREET".into(),
        [0x55, 0x04, 0x0a] => "O".into(),
        [0x55, 0x04, 0x0b] => "OU".into(),
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => "EMAILADDRESS".into(),
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC".into(),
        _ => dotted(oid),
    }
}

fn dotted(oid: &[u8]) -> String {
    let mut out = Vec::new();
    let mut acc: u64 = 0;
    for (i, b) in oid.iter().enumerate() {
        acc = (acc << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if out.is_empty() {
                let first = acc.min(80) / 40;
                out.push(first.to_string());
                out.push((acc - first * 40).to_string());
            } else {
                out.push(acc.to_string());
            }
            acc = 0;
        } else if i > 16 {
            break;
        }
    }
    out.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_names_and_version_are_read() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        let (t, _) = time(b"\x17\x0d491231235959Z", "t").expect("UTCTime");
        assert_eq!(t, 2_524_607_999);
        let (t, _) = time(b"\x18\x0f20500101000000Z", "t").expect("GeneralizedTime");
        assert_eq!(t, 2_524_608_000);
        assert!(time(b"\x17\x0d491331235959Z", "t").is_err(), "month 13");
        assert!(time(b"\x17\x0d4912312359", "t").is_err(), "cut short");
        // C=LK then CN=wso2.com, printed most specific first.
        let rdns = [
            &[0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x06, 0x13, 0x02, b'L', b'K'][..],
            &[0x31, 0x11, 0x30, 0x0f, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x08, b'w', b's', b'o', b'2', b'.', b'c', b'o', b'm'],
        ]
        .concat();
        assert_eq!(name(&rdns, "subject").expect("a name"), "CN=wso2.com, C=LK");
        assert!(name(&rdns[..rdns.len() - 1], "subject").is_err());
        assert_eq!(dotted(&[0x2a, 0x03]), "1.2.3");
        for cut in [1usize, 10, 40] {
            let pem = format!(
                "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----",
                base64::engine::general_purpose::STANDARD.encode(vec![0x30u8; cut])
            );
            assert!(certificate(&pem).is_err());
        }
    }

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
