//! `[keystore.tls]` and `[truststore]`: the node's certificate and key, and the certificates it trusts.

use std::path::{Path, PathBuf};

use super::reader::{Reader, Tbl};
use crate::model::{Keystore, KeystoreType, Secret};
use crate::resolve::join;

/// `[keystore.tls]`; without it, WSO2's default `wso2carbon.jks` (a certificate is generated when it is absent).
pub(super) fn keystore_tls(r: &mut Reader, keystores: Option<&(Tbl<'_>, String)>) -> Keystore {
    r.within(keystores, "tls").map(|(t, p)| keystore(r, t, &p, Keystore::DEFAULT_FILE)).unwrap_or_else(|| Keystore {
        file_name: Keystore::DEFAULT_FILE.into(),
        kind: KeystoreType::Jks,
        password: Secret::new("wso2carbon"),
        alias: Some("wso2carbon".into()),
        key_password: Some(Secret::new("wso2carbon")),
    })
}

/// `[keystore.tls_ecdsa]`, when configured: the same keys as `[keystore.tls]`, `file_name` required.
pub(super) fn keystore_tls_ecdsa(r: &mut Reader, keystores: Option<&(Tbl<'_>, String)>) -> Option<Keystore> {
    let (t, p) = r.within(keystores, "tls_ecdsa")?;
    if t.value_span("file_name").is_none() {
        r.error(&p, t.key_span(), "[keystore.tls_ecdsa] needs file_name (a PEM or PKCS#12 file with an ECDSA P-256 certificate and key)");
        return None;
    }
    Some(keystore(r, t, &p, ""))
}

/// `[truststore]`, when configured.
pub(super) fn truststore(r: &mut Reader, top: Tbl<'_>) -> Option<Keystore> {
    r.table(top, "", &["truststore"]).map(|(t, p)| keystore(r, t, &p, Keystore::DEFAULT_TRUSTSTORE))
}

fn keystore(r: &mut Reader, t: Tbl<'_>, p: &str, default_file: &str) -> Keystore {
    let file_name = PathBuf::from(r.str(t, p, "file_name").unwrap_or_else(|| default_file.into()));
    let kind = match r.str(t, p, "type").map(|s| s.to_ascii_uppercase()) {
        None => guess_keystore_type(&file_name),
        Some(k) if k == "JKS" => KeystoreType::Jks,
        Some(k) if k == "PKCS12" || k == "P12" || k == "PFX" => KeystoreType::Pkcs12,
        Some(k) if k == "PEM" => KeystoreType::Pem,
        Some(other) => {
            r.error(&join(p, "type"), t.value_span("type"), format!("keystore type `{other}` is not supported; use PKCS12, PEM or JKS"));
            KeystoreType::Pkcs12
        }
    };
    Keystore {
        file_name,
        kind,
        password: r.secret(t, p, "password").unwrap_or_else(|| Secret::new("")),
        alias: r.str(t, p, "alias"),
        key_password: r.secret(t, p, "key_password"),
    }
}

fn guess_keystore_type(file: &Path) -> KeystoreType {
    match file.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("jks") => KeystoreType::Jks,
        Some("pem") | Some("crt") | Some("cer") => KeystoreType::Pem,
        _ => KeystoreType::Pkcs12,
    }
}
