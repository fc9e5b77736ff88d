//! Outgoing connections from one node to another (a key manager, a control plane, a revocation listener):
//! host names resolve through the node's hosts file (`--hosts`) before DNS, so the seeds' names (cp.wso2.com,
//! km.wso2.com, ...) map to 127.0.0.x on one machine; TLS is verified with the configuration the caller built
//! from the truststore. Shared so that every such client resolves names the same way, and says why a call
//! failed the same way ([`describe`]: certificate problems by name, with what to configure).

#![forbid(unsafe_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use apim_config::HostsFile;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};

/// Resolves through the hosts file first, then the system resolver.
#[derive(Clone)]
pub struct HostsResolver {
    hosts: Arc<HostsFile>,
    system: GaiResolver,
}

impl HostsResolver {
    pub fn new(hosts: HostsFile) -> HostsResolver {
        HostsResolver { hosts: Arc::new(hosts), system: GaiResolver::new() }
    }
}

type Addrs = std::vec::IntoIter<SocketAddr>;

impl tower::Service<Name> for HostsResolver {
    type Response = Addrs;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Addrs, std::io::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        if let Some(ip) = self.hosts.lookup(name.as_str()) {
            return Box::pin(std::future::ready(Ok(vec![SocketAddr::new(ip, 0)].into_iter())));
        }
        let mut system = self.system.clone();
        Box::pin(async move {
            let found = system.call(name).await?;
            Ok(found.collect::<Vec<_>>().into_iter())
        })
    }
}

/// Plain TCP through the hosts file: 5 s connect timeout, no Nagle, any URL scheme (TLS is layered on top).
pub fn http_connector(hosts: &HostsFile) -> HttpConnector<HostsResolver> {
    let mut c = HttpConnector::new_with_resolver(HostsResolver::new(hosts.clone()));
    c.set_connect_timeout(Some(Duration::from_secs(5)));
    c.set_nodelay(true);
    c.enforce_http(false);
    c
}

pub type HttpsConnector = hyper_rustls::HttpsConnector<HttpConnector<HostsResolver>>;

/// `http://` and `https://` (HTTP/1.1) through the hosts file, TLS verified with `tls`.
pub fn https_connector(hosts: &HostsFile, tls: &rustls::ClientConfig) -> HttpsConnector {
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls.clone())
        .https_or_http()
        .enable_http1()
        .wrap_connector(http_connector(hosts))
}

/// Says what went wrong on a call to `peer` (a URL or `host:port`) in words that name the cause, walking the
/// error's whole source chain (including the errors wrapped inside `io::Error`s, where TLS failures travel). A
/// certificate problem says which (unknown issuer, name mismatch, expired, not yet valid) and what to configure
/// (`[truststore]`, the certificate's names); anything else is the chain's messages joined, so `client error
/// (Connect)` never stands alone.
pub fn describe(err: &(dyn std::error::Error + 'static), peer: &str) -> String {
    let chain = chain(err);
    if let Some(tls) = chain.iter().find_map(|e| e.downcast_ref::<rustls::Error>()) {
        return describe_tls(tls, peer);
    }
    let mut parts: Vec<String> = Vec::new();
    for (i, e) in chain.iter().enumerate() {
        let text = e.to_string();
        // hyper's `client error (Connect)` and the like say only where it failed; their cause follows.
        if text.starts_with("client error (") && i + 1 < chain.len() {
            continue;
        }
        // A wrapper's message often repeats its cause's; keep each piece once.
        if text.is_empty() || parts.iter().any(|p| p.contains(&text)) {
            continue;
        }
        parts.retain(|p| !text.contains(p.as_str()));
        parts.push(text);
    }
    format!("{peer}: {}", parts.join(": "))
}

/// `err` and its sources, looking inside `io::Error`s (whose `source()` skips the error they wrap).
fn chain<'a>(err: &'a (dyn std::error::Error + 'static)) -> Vec<&'a (dyn std::error::Error + 'static)> {
    let mut out = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        out.push(e);
        if out.len() > 32 {
            break;
        }
        next = match e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    out
}

fn describe_tls(e: &rustls::Error, peer: &str) -> String {
    use rustls::{AlertDescription as Alert, CertificateError as C};
    let host = host_of(peer);
    let cause = match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => format!(
                "the certificate {host} presented is not trusted (unknown issuer: self-signed, or signed by a CA this \
                 node does not know); add it, or the CA that issued it, to [truststore], or give the nodes one [keystore.tls]"
            ),
            // The truststore holds a certificate with the issuer's name but another key: typically another
            // node's self-signed certificate for the same host name.
            C::BadSignature => format!(
                "the certificate {host} presented is not trusted (its signature does not match the trusted certificate \
                 of that issuer name: another self-signed certificate for the same name?); add it, or the CA that \
                 issued it, to [truststore], or give the nodes one [keystore.tls]"
            ),
            C::NotValidForName => format!(
                "the certificate {host} presented is not valid for the name `{host}`; reach it by a name the certificate \
                 holds, or reissue the certificate with `{host}` among its subject alternative names"
            ),
            C::NotValidForNameContext { presented, .. } => format!(
                "the certificate {host} presented is not valid for the name `{host}` (it names {}); reach it by one of those \
                 names, or reissue the certificate with `{host}` among its subject alternative names",
                if presented.is_empty() {
                    "no name".to_string()
                } else {
                    presented.iter().map(|n| bare_name(n)).collect::<Vec<_>>().join(", ")
                }
            ),
            C::Expired => format!("the certificate {host} presented has expired; renew it"),
            C::ExpiredContext { time, not_after } => format!(
                "the certificate {host} presented expired on {} (it is now {}); renew it",
                utc(not_after.as_secs()),
                utc(time.as_secs())
            ),
            C::NotValidYet => format!("the certificate {host} presented is not valid yet; check the clocks of both nodes"),
            C::NotValidYetContext { time, not_before } => format!(
                "the certificate {host} presented is not valid before {} (it is now {}); check the clocks of both nodes",
                utc(not_before.as_secs()),
                utc(time.as_secs())
            ),
            C::Revoked => format!("the certificate {host} presented has been revoked"),
            other => format!("the certificate {host} presented was refused ({other:?})"),
        },
        rustls::Error::AlertReceived(a @ (Alert::BadCertificate | Alert::UnknownCA | Alert::CertificateRequired)) => {
            format!("{host} refused this node's certificate (TLS alert {a:?})")
        }
        rustls::Error::AlertReceived(a) => format!("{host} ended the handshake (TLS alert {a:?})"),
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            format!("{host} did not answer in TLS ({e}); is it a plain-HTTP port? use http:// or tcp:// for it")
        }
        other => other.to_string(),
    };
    format!("TLS with {peer} failed: {cause}")
}

/// `peer.test` of `DnsName("peer.test")`, `127.0.0.1` of `IpAddress(127.0.0.1)` (how the verifier lists names).
fn bare_name(n: &str) -> &str {
    match (n.find('('), n.strip_suffix(')')) {
        (Some(open), Some(inner)) => inner.get(open + 1..).unwrap_or(n).trim_matches('"'),
        _ => n,
    }
}

/// The host of `https://host:port/...`, `host:port` or `[v6]:port`.
fn host_of(peer: &str) -> &str {
    let rest = peer.split_once("://").map(|(_, r)| r).unwrap_or(peer);
    let authority = rest.split('/').next().unwrap_or(rest);
    match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => authority.rsplit_once(':').map(|(h, _)| h).unwrap_or(authority),
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC` of Unix seconds (days to civil date after Howard Hinnant).
fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests;
