//! TLS material for the management and traffic listeners: `[keystore.tls]` as PEM or PKCS#12; a JKS
//! file is refused with the `keytool` command that converts it; the seeds' default keystore name, when the
//! file does not exist, gets a generated self-signed certificate under the data directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use apim_config::{DeploymentConfig, Keystore, KeystoreType, KxGroup, TlsSettings};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: file not found (key `{key}`)")]
    NotFound { key: &'static str, path: String },
    #[error("cannot read keystore {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error(
        "{path} is a Java KeyStore (JKS), which apim does not read; convert it once with\n  keytool -importkeystore -srckeystore {path} -srcstoretype JKS -srcstorepass <password> -destkeystore {dest} -deststoretype PKCS12 -deststorepass <password>\nthen set file_name = \"{dest_name}\" and type = \"PKCS12\" in [keystore.tls] (or [truststore])"
    )]
    Jks { path: String, dest: String, dest_name: String },
    #[error("keystore {path}: {message}")]
    Invalid { path: String, message: String },
    #[error("keystore.tls: cannot generate a self-signed certificate: {0}")]
    Generate(String),
}

/// A certificate chain and its private key, ready for rustls.
pub struct TlsIdentity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// Where it came from, for the start-up log.
    pub origin: String,
}

/// The crypto provider with `[transport.tls] key_exchange_groups`, in that order.
fn provider(settings: &TlsSettings) -> Arc<rustls::crypto::CryptoProvider> {
    use rustls::crypto::aws_lc_rs::kx_group;
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.kx_groups = settings
        .key_exchange_groups
        .iter()
        .map(|g| match g {
            KxGroup::X25519 => kx_group::X25519,
            KxGroup::Secp256r1 => kx_group::SECP256R1,
            KxGroup::Secp384r1 => kx_group::SECP384R1,
            KxGroup::X25519MlKem768 => kx_group::X25519MLKEM768,
        })
        .collect();
    Arc::new(provider)
}

/// Resumption as `[transport.tls]` says: stateless tickets (TLS 1.3 and 1.2; the keys rotate every 6 hours and
/// live in the configuration, so every worker of the node reads every ticket) and a cache by session id.
fn resumption(config: &mut rustls::ServerConfig, settings: &TlsSettings, origin: &str) -> Result<(), TlsError> {
    config.session_storage = match settings.session_cache_size {
        0 => Arc::new(rustls::server::NoServerSessionStorage {}),
        n => rustls::server::ServerSessionMemoryCache::new(n),
    };
    if settings.session_tickets {
        config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new()
            .map_err(|e| TlsError::Invalid { path: origin.into(), message: format!("cannot make session ticket keys: {e}") })?;
    }
    Ok(())
}

/// The node's own certificate: `[keystore.tls]`, or `[keystore.tls_ecdsa]` for a client that checks ECDSA
/// signatures (P-256) when the node has one.
#[derive(Debug)]
struct NodeCertificate {
    primary: Arc<rustls::sign::CertifiedKey>,
    ecdsa: Option<Arc<rustls::sign::CertifiedKey>>,
}

impl NodeCertificate {
    fn new(
        primary: &TlsIdentity,
        ecdsa: Option<&TlsIdentity>,
        provider: &rustls::crypto::CryptoProvider,
    ) -> Result<NodeCertificate, TlsError> {
        Ok(NodeCertificate {
            primary: Arc::new(certified(primary, provider)?),
            ecdsa: ecdsa.map(|e| certified(e, provider).map(Arc::new)).transpose()?,
        })
    }

    fn pick(&self, hello: &rustls::server::ClientHello<'_>) -> Arc<rustls::sign::CertifiedKey> {
        match &self.ecdsa {
            Some(e) if hello.signature_schemes().contains(&rustls::SignatureScheme::ECDSA_NISTP256_SHA256) => e.clone(),
            _ => self.primary.clone(),
        }
    }
}

impl rustls::server::ResolvesServerCert for NodeCertificate {
    fn resolve(&self, hello: rustls::server::ClientHello<'_>) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.pick(&hello))
    }
}

impl TlsIdentity {
    /// The management listeners' configuration: this identity (with the ECDSA one beside it, when the node has
    /// one), `[transport.tls]`'s groups and resumption.
    pub fn server_config(&self, ecdsa: Option<&TlsIdentity>, settings: &TlsSettings) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let provider = provider(settings);
        let resolver = NodeCertificate::new(self, ecdsa, &provider)?;
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Invalid { path: self.origin.clone(), message: e.to_string() })?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(resolver));
        resumption(&mut cfg, settings, &self.origin)?;
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(cfg))
    }
}

/// Certificates for the gateway's environment vhosts, chosen by SNI on its HTTPS and WSS listeners: every
/// `<host>.pem` (certificate chain and private key) in `vhosts/` beside the configuration file. A client naming
/// a host without one gets the `[keystore.tls]` certificate.
#[derive(Debug)]
pub struct VhostCertificates {
    default: NodeCertificate,
    by_host: std::collections::HashMap<String, Arc<rustls::sign::CertifiedKey>>,
}

impl rustls::server::ResolvesServerCert for VhostCertificates {
    fn resolve(&self, hello: rustls::server::ClientHello<'_>) -> Option<Arc<rustls::sign::CertifiedKey>> {
        let by_name = hello.server_name().and_then(|n| self.by_host.get(&n.to_ascii_lowercase()));
        Some(by_name.cloned().unwrap_or_else(|| self.default.pick(&hello)))
    }
}

fn certified(identity: &TlsIdentity, provider: &rustls::crypto::CryptoProvider) -> Result<rustls::sign::CertifiedKey, TlsError> {
    rustls::sign::CertifiedKey::from_der(identity.chain.clone(), identity.key.clone_key(), provider).map_err(|e| TlsError::Invalid {
        path: identity.origin.clone(),
        message: format!("certificate and key do not form a usable identity: {e}"),
    })
}

impl TlsIdentity {
    /// The gateway listeners' configuration: this identity by default, a vhost's own certificate by SNI.
    /// Reads `vhosts/*.pem` beside the configuration file; a file that is not a usable identity is an error
    /// naming it (before anything is bound).
    pub fn gateway_server_config(
        &self,
        ecdsa: Option<&TlsIdentity>,
        cfg: &DeploymentConfig,
    ) -> Result<(Arc<rustls::ServerConfig>, Vec<String>), TlsError> {
        let provider = provider(&cfg.transport.tls);
        let mut by_host = std::collections::HashMap::new();
        let dir = cfg.config_dir.join("vhosts");
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                let path = e.path();
                if path.extension().is_none_or(|x| x != "pem") {
                    continue;
                }
                let Some(host) = path.file_stem().and_then(|s| s.to_str()).map(str::to_ascii_lowercase) else { continue };
                let (display, data) = read_store(&path)?;
                let identity = from_pem(&data, &display)?;
                by_host.insert(host, Arc::new(certified(&identity, &provider)?));
            }
        }
        let mut hosts: Vec<String> = by_host.keys().cloned().collect();
        hosts.sort();
        let resolver = VhostCertificates { default: NodeCertificate::new(self, ecdsa, &provider)?, by_host };
        let client_certificates = Arc::new(AnyClientCertificate { provider: provider.clone() });
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Invalid { path: self.origin.clone(), message: e.to_string() })?
            .with_client_cert_verifier(client_certificates)
            .with_cert_resolver(Arc::new(resolver));
        resumption(&mut config, &cfg.transport.tls, &self.origin)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok((Arc::new(config), hosts))
    }
}

/// The traffic listeners ask for a client certificate and take any (or none): an API with mutual TLS matches the
/// certificate itself against those it was given (by the SHA-256 of its DER), so no CA is trusted here. What the
/// handshake does prove is that the client holds the certificate's private key (the signatures below).
#[derive(Debug)]
struct AnyClientCertificate {
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::server::danger::ClientCertVerifier for AnyClientCertificate {
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// Reads a keystore or truststore file, refusing JKS with the command that converts it.
fn read_store(path: &Path) -> Result<(String, Vec<u8>), TlsError> {
    let display = path.display().to_string();
    let data = std::fs::read(path).map_err(|source| TlsError::Read { path: display.clone(), source })?;
    if data.starts_with(&[0xFE, 0xED, 0xFE, 0xED]) {
        let dest = path.with_extension("p12");
        let dest_name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        return Err(TlsError::Jks { path: display, dest: dest.display().to_string(), dest_name });
    }
    Ok((display, data))
}

/// Loads (or generates) the TLS identity. Runs before any port is bound.
pub fn load_identity(cfg: &DeploymentConfig) -> Result<TlsIdentity, TlsError> {
    let ks = &cfg.keystore_tls;
    // `apim_config::load_file` has refused a missing file other than the default; this finds the same one.
    let Some(path) = ks.locate(&cfg.config_dir) else {
        if ks.file_name == Path::new(Keystore::DEFAULT_FILE) {
            return generated(cfg);
        }
        return Err(TlsError::NotFound { key: "keystore.tls.file_name", path: ks.file_name.display().to_string() });
    };
    read_identity(&path, ks)
}

/// `[keystore.tls_ecdsa]`, when configured: its key must be ECDSA on P-256. Runs before any port is bound.
pub fn load_ecdsa_identity(cfg: &DeploymentConfig) -> Result<Option<TlsIdentity>, TlsError> {
    let Some(ks) = &cfg.keystore_tls_ecdsa else { return Ok(None) };
    let Some(path) = ks.locate(&cfg.config_dir) else {
        return Err(TlsError::NotFound { key: "keystore.tls_ecdsa.file_name", path: ks.file_name.display().to_string() });
    };
    let identity = read_identity(&path, ks)?;
    let key = rustls::crypto::aws_lc_rs::default_provider().key_provider.load_private_key(identity.key.clone_key());
    let scheme = key.ok().and_then(|k| k.choose_scheme(&[rustls::SignatureScheme::ECDSA_NISTP256_SHA256]).map(|s| s.scheme()));
    if scheme != Some(rustls::SignatureScheme::ECDSA_NISTP256_SHA256) {
        return Err(TlsError::Invalid {
            path: identity.origin,
            message: "[keystore.tls_ecdsa] needs an ECDSA key on the P-256 curve (this key is of another kind)".into(),
        });
    }
    Ok(Some(identity))
}

/// A keystore file's certificate chain and key.
fn read_identity(path: &Path, ks: &Keystore) -> Result<TlsIdentity, TlsError> {
    let (display, data) = read_store(path)?;
    // Trust the content over the declared type: a PKCS#12 file still called .jks is common after conversion.
    let kind = if data.starts_with(b"-----BEGIN") {
        KeystoreType::Pem
    } else if data.first() == Some(&0x30) {
        KeystoreType::Pkcs12
    } else {
        ks.kind
    };
    match kind {
        KeystoreType::Pem => from_pem(&data, &display),
        KeystoreType::Pkcs12 => from_pkcs12(&data, ks, &display),
        KeystoreType::Jks => Err(TlsError::Invalid { path: display, message: "not a JKS, PKCS#12 or PEM file".into() }),
    }
}

fn from_pem(data: &[u8], path: &str) -> Result<TlsIdentity, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(data)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Invalid { path: path.into(), message: format!("bad PEM certificate: {e}") })?;
    if chain.is_empty() {
        return Err(TlsError::Invalid { path: path.into(), message: "no CERTIFICATE block in the PEM file".into() });
    }
    let key = PrivateKeyDer::from_pem_slice(data).map_err(|e| TlsError::Invalid {
        path: path.into(),
        message: format!(
            "no usable private key in the PEM file (an unencrypted PKCS#8, PKCS#1 or SEC1 key must follow the certificate): {e}"
        ),
    })?;
    Ok(TlsIdentity { chain, key, origin: path.into() })
}

fn from_pkcs12(data: &[u8], ks: &Keystore, path: &str) -> Result<TlsIdentity, TlsError> {
    let store =
        p12_keystore::KeyStore::from_pkcs12(data, ks.password.expose(), p12_keystore::Pkcs12ImportPolicy::Relaxed).map_err(|e| {
            TlsError::Invalid { path: path.into(), message: format!("cannot open PKCS#12 (wrong `keystore.tls.password`?): {e}") }
        })?;
    let chain = match ks.alias.as_deref().and_then(|a| store.entry(a)) {
        Some(p12_keystore::KeyStoreEntry::PrivateKeyChain(c)) => c,
        _ => match store.private_key_chain() {
            Some((_, c)) => c,
            None => return Err(TlsError::Invalid { path: path.into(), message: "the PKCS#12 file holds no private key".into() }),
        },
    };
    let certs: Vec<CertificateDer<'static>> = chain.certs().iter().map(|c| CertificateDer::from(c.as_der().to_vec())).collect();
    if certs.is_empty() {
        return Err(TlsError::Invalid { path: path.into(), message: "the private key has no certificate".into() });
    }
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(chain.key().as_der().to_vec()));
    Ok(TlsIdentity { chain: certs, key, origin: path.into() })
}

/// A self-signed RSA certificate for `[server] hostname`, kept under `<data>/tls/` and reused on restart.
/// RSA so the key manager can sign RS256 tokens with the same key, as WSO2 does with wso2carbon.jks.
fn generated(cfg: &DeploymentConfig) -> Result<TlsIdentity, TlsError> {
    let host = &cfg.server.hostname;
    let dir = cfg.data_dir.join("tls");
    let file = dir.join(format!("{}.pem", sanitize(host)));
    if file.exists() {
        let data = std::fs::read(&file).map_err(|source| TlsError::Read { path: file.display().to_string(), source })?;
        return from_pem(&data, &file.display().to_string());
    }
    tracing::warn!(keystore = Keystore::DEFAULT_FILE, file = %file.display(), "keystore not found; generating a self-signed certificate for {host}; configure [keystore.tls] with a real certificate for production");
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).map_err(|e| TlsError::Generate(e.to_string()))?;
    let mut names = vec![host.clone()];
    for extra in ["localhost", "127.0.0.1"] {
        if !names.iter().any(|n| n == extra) {
            names.push(extra.to_string());
        }
    }
    let mut params = rcgen::CertificateParams::new(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    params.distinguished_name.push(rcgen::DnType::CommonName, host.clone());
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "apim-rs self-signed");
    let cert = params.self_signed(&key).map_err(|e| TlsError::Generate(e.to_string()))?;
    let pem = format!("{}{}", cert.pem(), key.serialize_pem());
    std::fs::create_dir_all(&dir).map_err(|source| TlsError::Read { path: dir.display().to_string(), source })?;
    write_private(&file, pem.as_bytes()).map_err(|source| TlsError::Read { path: file.display().to_string(), source })?;
    from_pem(pem.as_bytes(), &file.display().to_string())
}

fn sanitize(host: &str) -> String {
    host.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect()
}

/// Writes a file holding a private key, readable by the owner only, so that a crash never leaves a truncated
/// one: the data goes to a new temporary file in the same directory, is flushed to disk, and is renamed over
/// `path` (atomic on one file system); the directory is flushed too, so the rename survives a power cut.
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let mut opts = std::fs::OpenOptions::new();
    // create_new: never write through a file (or link) someone else put there.
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let written = opts.open(&tmp).and_then(|mut f| {
        f.write_all(data)?;
        f.sync_all()
    });
    let renamed = written.and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = renamed {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // Durability of the rename; some file systems cannot open a directory, which costs only that.
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Certificates of `[truststore]` (PEM or PKCS#12). A missing default truststore is no error: outbound TLS to
/// peers then trusts only what later issues configure.
pub fn load_truststore(cfg: &DeploymentConfig) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let Some(ts) = &cfg.truststore else { return Ok(Vec::new()) };
    let Some(path) = ts.locate(&cfg.config_dir) else {
        if ts.file_name == Path::new(Keystore::DEFAULT_TRUSTSTORE) {
            tracing::info!(file = %ts.file_name.display(), "truststore not found; using none");
            return Ok(Vec::new());
        }
        return Err(TlsError::NotFound { key: "truststore.file_name", path: ts.file_name.display().to_string() });
    };
    let (display, data) = read_store(&path)?;
    if data.starts_with(b"-----BEGIN") {
        return CertificateDer::pem_slice_iter(&data)
            .collect::<Result<_, _>>()
            .map_err(|e| TlsError::Invalid { path: display, message: format!("bad PEM certificate: {e}") });
    }
    let store = p12_keystore::KeyStore::from_pkcs12(&data, ts.password.expose(), p12_keystore::Pkcs12ImportPolicy::Relaxed)
        .map_err(|e| TlsError::Invalid { path: display, message: format!("cannot open PKCS#12 truststore: {e}") })?;
    let mut out = Vec::new();
    for (_, entry) in store.entries() {
        match entry {
            p12_keystore::KeyStoreEntry::Certificate(c) => out.push(CertificateDer::from(c.as_der().to_vec())),
            p12_keystore::KeyStoreEntry::PrivateKeyChain(c) => {
                out.extend(c.certs().iter().map(|c| CertificateDer::from(c.as_der().to_vec())))
            }
            p12_keystore::KeyStoreEntry::Secret(_) => {}
        }
    }
    Ok(out)
}

/// The client side for calls to peers (revocation notices, the event hub, key managers, traffic managers,
/// backends): trusts the truststore and this node's own certificate, so nodes sharing a keystore (as the seeds
/// do) trust each other.
pub fn client_config(identity: &TlsIdentity, trust: &[CertificateDer<'static>]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in trust.iter().chain(identity.chain.iter()) {
        let _ = roots.add(c.clone());
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    match rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions() {
        Ok(b) => Arc::new(b.with_root_certificates(roots).with_no_client_auth()),
        // The default protocol versions are always supported by aws-lc; keep a usable config regardless.
        Err(_) => Arc::new(rustls::ClientConfig::builder().with_root_certificates(rustls::RootCertStore::empty()).with_no_client_auth()),
    }
}

/// The RSA key that signs JWTs: the TLS key when it is RSA (as WSO2 signs with wso2carbon.jks), otherwise a
/// dedicated key generated once under `<data>/keys/`.
pub fn jwt_signing_key(cfg: &DeploymentConfig, identity: &TlsIdentity) -> Result<Vec<u8>, TlsError> {
    let tls_der = identity.key.secret_der().to_vec();
    if apim_key_manager::SigningKey::from_der(&tls_der).is_ok() {
        return Ok(tls_der);
    }
    let path = cfg.data_dir.join("keys/jwt-signing.pk8");
    if let Ok(der) = std::fs::read(&path) {
        return Ok(der);
    }
    tracing::warn!(file = %path.display(), "the TLS key is not RSA; generating a dedicated RS256 signing key");
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).map_err(|e| TlsError::Generate(e.to_string()))?;
    let der = key.serialize_der();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| TlsError::Read { path: dir.display().to_string(), source })?;
    }
    write_private(&path, &der).map_err(|source| TlsError::Read { path: path.display().to_string(), source })?;
    Ok(der)
}
/// The key manager's JWT signing key for `[oauth.token_generation] signing_algorithm`: the node's RSA key for
/// RS256; for ES256 and EdDSA a key of its own, `<data>/keys/jwt-<alg>.pk8`, generated on first start and reused
/// after (each key manager node has its own; the JWKS publishes every live one). A file that is not such a key
/// is an error naming it, before anything is bound.
pub fn token_signing_key(cfg: &DeploymentConfig, rsa_der: Vec<u8>) -> Result<Vec<u8>, TlsError> {
    use apim_jose::jwt::{Alg, SigningKey};
    let alg = match cfg.oauth.signing_algorithm {
        apim_config::TokenSigning::Rs256 => return Ok(rsa_der),
        apim_config::TokenSigning::Es256 => Alg::Es256,
        apim_config::TokenSigning::EdDsa => Alg::EdDsa,
    };
    let path = cfg.data_dir.join(format!("keys/jwt-{}.pk8", alg.name().to_ascii_lowercase()));
    let invalid = |message: String| TlsError::Invalid { path: path.display().to_string(), message };
    if let Ok(der) = std::fs::read(&path) {
        return match SigningKey::from_pkcs8(alg, &der) {
            Ok(_) => Ok(der),
            Err(e) => Err(invalid(format!("{e}, as [oauth.token_generation] signing_algorithm = \"{}\" needs", alg.name()))),
        };
    }
    let der = SigningKey::generate_pkcs8(alg).ok_or_else(|| TlsError::Generate(format!("cannot generate an {} key", alg.name())))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| TlsError::Read { path: dir.display().to_string(), source })?;
    }
    write_private(&path, &der).map_err(|source| TlsError::Read { path: path.display().to_string(), source })?;
    tracing::info!(file = %path.display(), "generated the key manager's {} signing key", alg.name());
    Ok(der)
}

#[cfg(test)]
mod tests;
