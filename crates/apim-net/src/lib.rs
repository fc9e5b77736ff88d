//! Outgoing connections from one node to another (a key manager, a control plane, a revocation listener):
//! host names resolve through the node's hosts file (`--hosts`) before DNS, so the seeds' names (cp.wso2.com,
//! km.wso2.com, ...) map to 127.0.0.x on one machine; TLS is verified with the configuration the caller built
//! from the truststore. Shared so that every such client resolves names the same way.

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
