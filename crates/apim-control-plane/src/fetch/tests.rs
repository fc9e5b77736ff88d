use std::net::IpAddr;

use super::forbidden;

fn kind(ip: &str) -> Option<&'static str> {
    forbidden(ip.parse::<IpAddr>().expect("address"))
}

#[test]
fn private_loopback_and_metadata_addresses_are_forbidden() {
    for (ip, expected) in [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "shared (CGNAT)"),
        ("100.100.100.200", "shared (CGNAT)"),
        ("169.254.169.254", "link-local (cloud metadata)"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("255.255.255.255", "reserved"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fd00:ec2::254", "private (unique local)"),
        ("fe80::1", "link-local"),
        ("ff02::1", "multicast"),
        // IPv4 carried in IPv6 is judged as IPv4.
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local (cloud metadata)"),
        ("::10.0.0.1", "private"),
        ("64:ff9b::a9fe:a9fe", "link-local (cloud metadata)"),
        ("2002:7f00:1::", "loopback"),
    ] {
        assert_eq!(kind(ip), Some(expected), "{ip}");
    }
}

#[test]
fn public_addresses_pass() {
    for ip in ["8.8.8.8", "172.32.0.1", "100.128.0.1", "192.0.2.10", "1.1.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8", "2002:808:808::"]
    {
        assert_eq!(kind(ip), None, "{ip}");
    }
}
