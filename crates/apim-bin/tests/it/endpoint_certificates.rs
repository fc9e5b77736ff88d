//! Endpoint certificates through the binary: a backend over HTTPS with a self-signed certificate the truststore
//! does not hold is refused by the gateway (WSO2's 101503) until its certificate is uploaded in the Publisher
//! for that endpoint; then it answers, and once the certificate is deleted it is refused again.

use std::time::{Duration, Instant};

use apim_test_support::http;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair};
use base64::Engine;
use serde_json::json;

use super::gateway::{Mgmt, code, get};
use super::{base64_encode, ready_all_in_one};

/// One DER element: `tag`, its length, `content`.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend([0x81, len as u8]);
    } else {
        out.extend([0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    der(0x30, &parts.concat())
}

fn pem(label: &str, bytes: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).expect("base64")).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

/// A self-signed P-256 certificate for `localhost` (marked as a CA, valid 2020–2049) and its key: `(certificate PEM,
/// certificate and key PEM)`. Built here from DER so this test needs no certificate generator.
fn self_signed_localhost() -> (String, String) {
    let rng = SystemRandom::new();
    let alg = &signature::ECDSA_P256_SHA256_ASN1_SIGNING;
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("key");
    let key = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref()).expect("key pair");
    let oid = |bytes: &[u8]| der(0x06, bytes);
    let ecdsa_sha256 = seq(&[oid(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02])]);
    let name = seq(&[der(0x31, &seq(&[oid(&[0x55, 0x04, 0x03]), der(0x0c, b"localhost")]))]);
    let validity = seq(&[der(0x17, b"200101000000Z"), der(0x17, b"491231235959Z")]);
    let spki = seq(&[
        seq(&[oid(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]), oid(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07])]),
        der(0x03, &[&[0u8][..], key.public_key().as_ref()].concat()),
    ]);
    // subjectAltName: dNSName localhost.
    let san = seq(&[oid(&[0x55, 0x1d, 0x11]), der(0x04, &seq(&[der(0x82, b"localhost")]))]);
    // basicConstraints cA (critical), as `openssl req -x509` marks its certificates: webpki takes no such
    // certificate as a server's own, so the gateway must match it as the very certificate uploaded.
    let ca = seq(&[oid(&[0x55, 0x1d, 0x13]), der(0x01, &[0xff]), der(0x04, &seq(&[der(0x01, &[0xff])]))]);
    let tbs = seq(&[
        der(0xa0, &der(0x02, &[2])),
        der(0x02, &[0x01, 0x23, 0x45]),
        ecdsa_sha256.clone(),
        name.clone(),
        validity,
        name,
        spki,
        der(0xa3, &seq(&[san, ca])),
    ]);
    let sig = key.sign(&rng, &tbs).expect("signature");
    let cert = seq(&[tbs, ecdsa_sha256, der(0x03, &[&[0u8][..], sig.as_ref()].concat())]);
    let cert_pem = pem("CERTIFICATE", &cert);
    let both = format!("{cert_pem}{}", pem("PRIVATE KEY", pkcs8.as_ref()));
    (cert_pem, both)
}

/// Polls until the gateway answers with `want` (a change reaches it through the event log in milliseconds).
async fn until(url: &str, token: &str, want: impl Fn(u16) -> bool) -> http::Response {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = get(url, Some(token)).await;
        if want(r.status) || Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn gateway_trusts_uploaded_endpoint_certificates() {
    let (_dir, mut node, https, _) = ready_all_in_one("apim-epcert").await;
    let gw = node.url("gateway-http", Duration::from_secs(5));
    let m = Mgmt { base: https.clone(), auth: format!("Basic {}", base64_encode("admin:admin")) };
    let (cert_pem, server_pem) = self_signed_localhost();
    let backend =
        apim_test_support::backend::spawn_tls("127.0.0.1:0".parse().expect("addr"), server_pem.as_bytes()).await.expect("tls backend");
    let endpoint = format!("https://localhost:{}/b", backend.port());
    let api = m
        .publish(json!({"name": "CertApi", "context": "/certapi", "version": "1.0.0", "policies": ["Unlimited"],
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": endpoint}},
            "operations": [{"target": "/*", "verb": "GET"}]}))
        .await;
    let (app, ck, cs) = m.app("CertApp", "Unlimited", "JWT", "PRODUCTION").await;
    m.subscribe(&api, &app, "Unlimited").await;
    let token = m.token(&ck, &cs, "").await;
    let url = format!("{gw}/certapi/1.0.0/items");

    // Not in the truststore: the handshake fails, WSO2's "cannot connect".
    // (Until the subscription has reached the gateway it is 403: wait for the backend's answer.)
    let r = until(&url, &token, |s| matches!(s, 502 | 503)).await;
    assert!(matches!(r.status, 502 | 503), "{} {}\n{}", r.status, r.body, node.stderr());
    assert_eq!(code(&r), "101503", "{}", r.body);

    // Uploaded for that endpoint: trusted on the next snapshot.
    let boundary = "apimcertboundary";
    let mut form = String::new();
    for (name, value) in [("alias", "certapi-backend"), ("endpoint", endpoint.as_str()), ("certificate", cert_pem.as_str())] {
        let file = if name == "certificate" { "; filename=\"backend.crt\"" } else { "" };
        form.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"{file}\r\n\r\n{value}\r\n"));
    }
    form.push_str(&format!("--{boundary}--\r\n"));
    let ct = format!("multipart/form-data; boundary={boundary}");
    let up = http::request(
        "POST",
        &format!("{https}/api/am/publisher/v4/endpoint-certificates"),
        &[("authorization", &m.auth), ("content-type", &ct)],
        &form,
    )
    .await
    .expect("upload");
    assert_eq!(up.status, 200, "{}", up.body);
    let r = until(&url, &token, |s| s == 200).await;
    assert_eq!(r.status, 200, "{}\n{}", r.body, node.stderr());
    assert_eq!(r.json()["path"], "/b/items", "{}", r.body);

    // Deleted: refused again, kept-alive connections included.
    let del = m.call("DELETE", "/api/am/publisher/v4/endpoint-certificates/certapi-backend", serde_json::Value::Null).await;
    assert_eq!(del.status, 200, "{}", del.body);
    let r = until(&url, &token, |s| s != 200).await;
    assert!(matches!(r.status, 502 | 503), "{} {}", r.status, r.body);
    assert_eq!(code(&r), "101503", "{}", r.body);
    node.terminate();
}
