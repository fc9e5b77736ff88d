//! A minimal HTTP/1.1 client for tests: plain or TLS (any certificate accepted), one request per connection.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

pub struct Response {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
    /// The server's leaf certificate, for TLS requests.
    pub peer_certificate: Option<Vec<u8>>,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// GET `url` (http:// or https://), with a 10 s limit.
pub async fn get(url: &str) -> anyhow::Result<Response> {
    request("GET", url, &[], "").await
}

pub async fn request(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> anyhow::Result<Response> {
    tokio::time::timeout(Duration::from_secs(10), request_inner(method, url, headers, body, None))
        .await
        .map_err(|_| anyhow::anyhow!("{method} {url} timed out"))?
}

/// [`request`] over TLS presenting a client certificate: `(certificate chain PEM, private key PEM)`.
pub async fn request_with_client_certificate(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
    client: (&str, &str),
) -> anyhow::Result<Response> {
    tokio::time::timeout(Duration::from_secs(10), request_inner(method, url, headers, body, Some(client)))
        .await
        .map_err(|_| anyhow::anyhow!("{method} {url} timed out"))?
}

async fn request_inner(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
    client: Option<(&str, &str)>,
) -> anyhow::Result<Response> {
    let uri: http::Uri = url.parse()?;
    let host = uri.host().ok_or_else(|| anyhow::anyhow!("no host in {url}"))?.to_string();
    let tls = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
    let mut req = http::Request::builder()
        .method(method)
        .uri(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"))
        .header("host", format!("{host}:{port}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(Bytes::from(body.to_string())))?;
    if tls {
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny));
        let config = match client {
            None => builder.with_no_client_auth(),
            Some((chain, key)) => {
                use rustls::pki_types::PrivateKeyDer;
                use rustls::pki_types::pem::PemObject;
                let chain = CertificateDer::pem_slice_iter(chain.as_bytes()).collect::<Result<Vec<_>, _>>()?;
                builder.with_client_auth_cert(chain, PrivateKeyDer::from_pem_slice(key.as_bytes())?)?
            }
        };
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let name = ServerName::try_from(host.clone()).unwrap_or_else(|_| ServerName::try_from("localhost").expect("static name"));
        let stream = connector.connect(name, tcp).await?;
        let peer = stream.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| c.to_vec());
        let mut resp = send(hyper_util::rt::TokioIo::new(stream), req).await?;
        resp.peer_certificate = peer;
        Ok(resp)
    } else {
        send(hyper_util::rt::TokioIo::new(tcp), req).await
    }
}

async fn send<I>(io: I, req: http::Request<Full<Bytes>>) -> anyhow::Result<Response>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await?.to_bytes();
    Ok(Response { status, headers, body: String::from_utf8_lossy(&bytes).into_owned(), peer_certificate: None })
}

/// The certificate a TLS server at `addr` presents when the client names `server_name` (SNI); not verified.
pub async fn peer_certificate(addr: std::net::SocketAddr, server_name: &str) -> anyhow::Result<Vec<u8>> {
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny))
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = ServerName::try_from(server_name.to_string())?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await?;
    stream.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| c.to_vec()).ok_or_else(|| anyhow::anyhow!("no certificate"))
}

#[derive(Debug)]
struct AcceptAny;

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms.supported_schemes()
    }
}

/// What one TLS handshake with a server settled.
#[derive(Debug)]
pub struct Handshake {
    /// The server's leaf certificate.
    pub certificate: Vec<u8>,
    /// The key-exchange group it chose.
    pub group: Option<rustls::NamedGroup>,
    /// Whether the session was resumed.
    pub resumed: bool,
}

/// A TLS client that keeps its sessions (so a second handshake with the same server may resume), offering only
/// the signature schemes and key-exchange groups it is given (all of aws-lc's by default); any certificate is
/// accepted.
pub struct TlsProbe {
    config: Arc<rustls::ClientConfig>,
}

impl TlsProbe {
    pub fn new(schemes: Option<&[SignatureScheme]>, groups: Option<&[&'static dyn rustls::crypto::SupportedKxGroup]>) -> TlsProbe {
        let mut provider = rustls::crypto::aws_lc_rs::default_provider();
        if let Some(groups) = groups {
            provider.kx_groups = groups.to_vec();
        }
        let schemes = schemes.map_or_else(|| provider.signature_verification_algorithms.supported_schemes(), <[_]>::to_vec);
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .unwrap_or_else(|e| panic!("rustls defaults: {e}"))
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Offering(schemes)))
            .with_no_client_auth();
        TlsProbe { config: Arc::new(config) }
    }

    /// One handshake with `addr` naming `server_name`, then one `GET /` with `Connection: close` read to its end
    /// (TLS 1.3 session tickets come after the handshake).
    pub async fn handshake(&self, addr: std::net::SocketAddr, server_name: &str) -> anyhow::Result<Handshake> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        let name = ServerName::try_from(server_name.to_string())?;
        let mut stream = tokio_rustls::TlsConnector::from(self.config.clone()).connect(name, tcp).await?;
        let conn = stream.get_ref().1;
        let handshake = Handshake {
            certificate: conn.peer_certificates().and_then(|c| c.first()).map(|c| c.to_vec()).unwrap_or_default(),
            group: conn.negotiated_key_exchange_group().map(|g| g.name()),
            resumed: conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
        };
        stream.write_all(format!("GET / HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n").as_bytes()).await?;
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
        Ok(handshake)
    }
}

/// Accepts any certificate (the tests' and benchmarks' are self-signed) but checks the server's handshake
/// signature, offering the signature schemes it holds: a client's share of a handshake is what a real client pays.
#[derive(Debug)]
pub struct Offering(Vec<SignatureScheme>);

impl Offering {
    /// Every scheme aws-lc verifies.
    pub fn all() -> Offering {
        Offering(rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms.supported_schemes())
    }
}

impl ServerCertVerifier for Offering {
    fn verify_server_cert(
        &self,
        c: &CertificateDer<'_>,
        i: &[CertificateDer<'_>],
        n: &ServerName<'_>,
        o: &[u8],
        t: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        AcceptAny.verify_server_cert(c, i, n, o, t)
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(m, c, d, &algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(m, c, d, &algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.clone()
    }
}
