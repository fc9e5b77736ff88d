use super::{bare_name, describe, host_of, utc};

#[test]
fn hosts_and_dates_read_back() {
    assert_eq!(host_of("https://cp1.test:9443"), "cp1.test");
    assert_eq!(host_of("cp1.test:5672"), "cp1.test");
    assert_eq!(host_of("https://[::1]:9443/services/"), "::1");
    assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
    assert_eq!(bare_name("DnsName(\"peer.test\")"), "peer.test");
    assert_eq!(bare_name("IpAddress(127.0.0.1)"), "127.0.0.1");
    assert_eq!(bare_name("plain"), "plain");
    assert_eq!(utc(951_782_400 + 3_661), "2000-02-29 01:01:01 UTC");
}

/// TLS failures wrapped in `io::Error` (as tokio-rustls reports them) are found and named.
#[test]
fn certificate_errors_inside_io_errors_are_named() {
    let wrapped =
        std::io::Error::new(std::io::ErrorKind::InvalidData, rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer));
    let outer: Box<dyn std::error::Error + Send + Sync> = Box::new(wrapped);
    let text = describe(&*outer, "https://cp1.test:9443");
    assert!(text.contains("certificate") && text.contains("cp1.test") && text.contains("[truststore]"), "{text}");

    let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
    assert_eq!(describe(&refused, "http://km.test:9763"), "http://km.test:9763: connection refused");
}

/// Over a real socket: a refused connection reads as such, without hyper's bare `client error (Connect)`.
#[test]
fn refused_connections_name_the_cause() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
        let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("tls")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let client: hyper_util::client::legacy::Client<_, http_body_util::Empty<hyper::body::Bytes>> =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(super::https_connector(&apim_config::HostsFile::default(), &tls));
        let url = format!("http://{closed}/");
        let err = client.get(url.parse().expect("uri")).await.expect_err("refused");
        let text = describe(&err, &url);
        assert!(text.to_lowercase().contains("connection refused") && text.contains(&closed.to_string()), "{text}");
        assert!(!text.contains("client error (Connect)"), "{text}");
    });
}
