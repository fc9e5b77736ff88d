//! Fetching an OpenAPI definition from a URL (`import-openapi` and `validate-openapi` with `url`): http or https
//! only, 10 s, at most 10 MiB, TLS verified against the node's truststore, no redirects followed.

use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::error::{ApiError, Result};

const LIMIT: usize = 10 << 20;
const TIMEOUT: Duration = Duration::from_secs(10);

pub async fn definition(tls: Option<&std::sync::Arc<rustls::ClientConfig>>, url: &str) -> Result<String> {
    if !crate::model::valid_url(url) {
        return Err(ApiError::field("url", format!("`{url}` is not an http or https URL")));
    }
    let tls =
        tls.ok_or_else(|| ApiError::unavailable("importing from a URL is not available on this node (no TLS client configuration)"))?;
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(Duration::from_secs(5)));
    http.enforce_http(false);
    let connector =
        hyper_rustls::HttpsConnectorBuilder::new().with_tls_config((**tls).clone()).https_or_http().enable_http1().wrap_connector(http);
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
    let uri: http::Uri = url.parse().map_err(|e| ApiError::field("url", format!("`{url}`: {e}")))?;
    let fetch = async {
        let resp = client.get(uri).await.map_err(|e| format!("cannot fetch `{url}`: {e}"))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!("`{url}` answered {status}"));
        }
        let bytes =
            Limited::new(resp.into_body(), LIMIT).collect().await.map_err(|e| format!("cannot read `{url}` (10 MiB at most): {e}"))?;
        String::from_utf8(bytes.to_bytes().to_vec()).map_err(|_| format!("`{url}` is not UTF-8 text"))
    };
    match tokio::time::timeout(TIMEOUT, fetch).await {
        Ok(Ok(text)) => Ok(text),
        Ok(Err(e)) => Err(ApiError::field("url", e)),
        Err(_) => Err(ApiError::field("url", format!("`{url}` did not answer within 10 s"))),
    }
}
