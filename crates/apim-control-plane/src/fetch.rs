//! Requests the Publisher makes to a URL a user gave: fetching an OpenAPI definition (`import-openapi` and
//! `validate-openapi` with `url`: GET, 10 s, at most 10 MiB) and probing an endpoint (`validate-endpoint`: HEAD,
//! 5 s). http or https only, TLS verified against the node's truststore, no redirects followed.
//!
//! The host is resolved here and every address it resolves to is checked before anything is sent: loopback,
//! private, shared (CGNAT), link-local (cloud metadata), unspecified, multicast and reserved addresses are refused
//! unless `[apim.publisher] allowed_private_hosts` names the host or a range holding the address. The connection
//! then goes to the addresses that were checked, so a second lookup cannot move it elsewhere.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use apim_config::PrivateHost;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

const DEFINITION_LIMIT: usize = 10 << 20;
const DEFINITION_TIMEOUT: Duration = Duration::from_secs(10);
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a URL was not fetched. `NotHttp` and `Refused` are the caller's mistakes (400); the rest are what the
/// target did.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("`{0}` is not an http or https URL")]
    NotHttp(String),
    #[error(
        "`{host}` is {addr}, a {kind} address, which the control plane does not reach on a user's behalf \
         (an operator may allow it in [apim.publisher] allowed_private_hosts)"
    )]
    Refused { host: String, addr: IpAddr, kind: &'static str },
    #[error("`{0}` does not resolve")]
    UnknownHost(String),
    #[error("cannot connect to `{url}`: {cause}")]
    Connect { url: String, cause: String },
    #[error("`{url}` did not answer within {} s", .after.as_secs())]
    Timeout { url: String, after: Duration },
    #[error("`{url}` answered {status}")]
    Status { url: String, status: http::StatusCode },
    #[error("cannot read `{url}` (10 MiB at most, UTF-8 text): {cause}")]
    Body { url: String, cause: String },
    #[error("fetching a URL is not available on this node (no TLS client configuration)")]
    NoTls,
}

impl OutboundError {
    /// The URL itself is not acceptable (as opposed to the target failing).
    pub fn is_refusal(&self) -> bool {
        matches!(self, OutboundError::NotHttp(_) | OutboundError::Refused { .. })
    }
}

/// The client for user-given URLs: the truststore and the operator's allowed private hosts.
#[derive(Clone, Debug, Default)]
pub struct Outbound {
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub allowed: Vec<PrivateHost>,
}

/// What a HEAD to an endpoint answered.
pub struct Probe {
    pub status: http::StatusCode,
}

impl Outbound {
    /// GET `url` as UTF-8 text (an OpenAPI definition); anything but 2xx is an error.
    pub async fn definition(&self, url: &str) -> Result<String, OutboundError> {
        let fetch = async {
            let resp = self.send(url, http::Method::GET).await?;
            let status = resp.status();
            if !status.is_success() {
                return Err(OutboundError::Status { url: url.to_string(), status });
            }
            let body = |cause: String| OutboundError::Body { url: url.to_string(), cause };
            let bytes = Limited::new(resp.into_body(), DEFINITION_LIMIT).collect().await.map_err(|e| body(e.to_string()))?;
            String::from_utf8(bytes.to_bytes().to_vec()).map_err(|_| body("not UTF-8".into()))
        };
        tokio::time::timeout(DEFINITION_TIMEOUT, fetch)
            .await
            .unwrap_or_else(|_| Err(OutboundError::Timeout { url: url.to_string(), after: DEFINITION_TIMEOUT }))
    }

    /// HEAD `url`: whatever status it answers.
    pub async fn probe(&self, url: &str) -> Result<Probe, OutboundError> {
        let probe = async { Ok(Probe { status: self.send(url, http::Method::HEAD).await?.status() }) };
        tokio::time::timeout(PROBE_TIMEOUT, probe)
            .await
            .unwrap_or_else(|_| Err(OutboundError::Timeout { url: url.to_string(), after: PROBE_TIMEOUT }))
    }

    async fn send(&self, url: &str, method: http::Method) -> Result<http::Response<hyper::body::Incoming>, OutboundError> {
        let not_http = || OutboundError::NotHttp(url.to_string());
        let uri: http::Uri = url.parse().map_err(|_| not_http())?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(not_http()),
        };
        let authority = uri.authority().ok_or_else(not_http)?.clone();
        if authority.as_str().contains('@') {
            // Credentials in the URL would be sent nowhere but could hide the real host from a reader.
            return Err(not_http());
        }
        let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_string();
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let addrs = self.resolve(&host, port).await?;
        let stream = connect(&addrs).await.map_err(|cause| OutboundError::Connect { url: url.to_string(), cause })?;
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let req = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, authority.as_str())
            .header(http::header::USER_AGENT, "apim-rs")
            .body(Empty::<Bytes>::new())
            .map_err(|_| not_http())?;
        let connect_err = |cause: String| OutboundError::Connect { url: url.to_string(), cause };
        if tls {
            let mut config = (**self.tls.as_ref().ok_or(OutboundError::NoTls)?).clone();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            let name = rustls::pki_types::ServerName::try_from(host.clone()).map_err(|_| not_http())?;
            let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(name, stream)
                .await
                .map_err(|e| connect_err(format!("TLS: {e}")))?;
            exchange(stream, req).await.map_err(connect_err)
        } else {
            exchange(stream, req).await.map_err(connect_err)
        }
    }

    /// Every address of `host`, each checked; one refused address refuses the host.
    async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, OutboundError> {
        let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::lookup_host((host, port))).await {
                Ok(Ok(found)) => found.collect(),
                Ok(Err(_)) | Err(_) => return Err(OutboundError::UnknownHost(host.to_string())),
            },
        };
        if addrs.is_empty() {
            return Err(OutboundError::UnknownHost(host.to_string()));
        }
        let named = self.allowed.iter().any(|a| matches!(a, PrivateHost::Name(n) if n.eq_ignore_ascii_case(host)));
        for a in &addrs {
            let ip = a.ip();
            if let Some(kind) = forbidden(ip)
                && !named
                && !self.allowed.iter().any(|a| matches!(a, PrivateHost::Net(net) if net.contains(ip)))
            {
                return Err(OutboundError::Refused { host: host.to_string(), addr: ip, kind });
            }
        }
        Ok(addrs)
    }
}

/// The kind of address a user-given URL may not reach, or `None` for a public one.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            // Addresses that carry an IPv4 address are judged by it: mapped, compatible, NAT64, 6to4.
            let s = v6.segments();
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            if s[..6] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified() {
                return forbidden_v4(Ipv4Addr::from(embedded(&s[6..8])));
            }
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return forbidden_v4(Ipv4Addr::from(embedded(&s[6..8])));
            }
            if s[0] == 0x2002 {
                return forbidden_v4(Ipv4Addr::from(embedded(&s[1..3])));
            }
            forbidden_v6(v6)
        }
    }
}

fn embedded(s: &[u16]) -> u32 {
    (u32::from(s[0]) << 16) | u32::from(s[1])
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    Some(match o {
        [127, ..] => "loopback",
        [10, ..] | [172, 16..=31, ..] | [192, 168, ..] => "private",
        [100, 64..=127, ..] => "shared (CGNAT)",
        [169, 254, ..] => "link-local (cloud metadata)",
        [0, ..] => "unspecified",
        [192, 0, 0, _] => "IETF protocol",
        [198, 18..=19, ..] => "benchmarking",
        [224..=239, ..] => "multicast",
        [240..=255, ..] => "reserved",
        _ => return None,
    })
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s0 = ip.segments()[0];
    Some(if ip.is_loopback() {
        "loopback"
    } else if ip.is_unspecified() {
        "unspecified"
    } else if s0 & 0xfe00 == 0xfc00 {
        "private (unique local)"
    } else if s0 & 0xffc0 == 0xfe80 {
        "link-local"
    } else if s0 & 0xff00 == 0xff00 {
        "multicast"
    } else {
        return None;
    })
}

async fn connect(addrs: &[SocketAddr]) -> Result<tokio::net::TcpStream, String> {
    let mut last = String::from("no address");
    for a in addrs {
        match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(a)).await {
            Ok(Ok(s)) => return Ok(s),
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => last = format!("no answer from {a} within {} s", CONNECT_TIMEOUT.as_secs()),
        }
    }
    Err(last)
}

/// One HTTP/1.1 request on `stream`; the connection is dropped with the response.
async fn exchange<S>(stream: S, req: http::Request<Empty<Bytes>>) -> Result<http::Response<hyper::body::Incoming>, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    // The connection task ends when the response body is read or dropped; the callers' timeouts bound it.
    tokio::spawn(async move {
        let _ = tokio::time::timeout(DEFINITION_TIMEOUT, conn).await;
    });
    sender.send_request(req).await.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
