//! The PROXY protocol (HAProxy's, versions 1 and 2): a load balancer in front of the node tells the client's
//! address in a header before the first byte of HTTP or TLS. Read only from peers in
//! `[apim.gateway] trusted_proxies`, and only when `proxy_protocol = true`: anyone else could name any address.
//! The header is read exactly, never past its end, so what follows is the connection's own bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// A version 1 line is at most 107 bytes with its CRLF.
const V1_MAX: usize = 107;
/// A version 2 header's address block, TLVs included, is at most this long here.
const V2_MAX_BLOCK: usize = 512;

/// What the balancer said.
#[derive(Debug, PartialEq, Eq)]
pub enum Source {
    /// The client's address.
    Client(SocketAddr),
    /// A connection of the balancer's own (health checks: v1 `UNKNOWN`, v2 `LOCAL`): the TCP peer stands.
    Own,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    #[error("the connection did not start with a PROXY protocol header")]
    Missing,
    #[error("a PROXY protocol header that cannot be read: {0}")]
    Malformed(&'static str),
    #[error("no complete PROXY protocol header within {0:?}")]
    Timeout(Duration),
    #[error("reading the PROXY protocol header: {0}")]
    Io(String),
}

/// Reads one header off `io` within `within`.
pub async fn read<IO: AsyncRead + Unpin>(io: &mut IO, within: Duration) -> Result<Source, ProxyError> {
    match tokio::time::timeout(within, read_header(io)).await {
        Ok(r) => r,
        Err(_) => Err(ProxyError::Timeout(within)),
    }
}

async fn read_header<IO: AsyncRead + Unpin>(io: &mut IO) -> Result<Source, ProxyError> {
    let io_err = |e: std::io::Error| ProxyError::Io(e.to_string());
    // 12 bytes tell the version: v2's signature, or v1's `PROXY ` (whose shortest line is 15 bytes).
    let mut head = [0u8; 12];
    io.read_exact(&mut head).await.map_err(io_err)?;
    if head == V2_SIGNATURE {
        let mut fixed = [0u8; 4];
        io.read_exact(&mut fixed).await.map_err(io_err)?;
        let len = usize::from(u16::from_be_bytes([fixed[2], fixed[3]]));
        if len > V2_MAX_BLOCK {
            return Err(ProxyError::Malformed("an address block over 512 bytes"));
        }
        let mut block = vec![0u8; len];
        io.read_exact(&mut block).await.map_err(io_err)?;
        return parse_v2(fixed[0], fixed[1], &block);
    }
    if !head.starts_with(b"PROXY ") {
        return Err(ProxyError::Missing);
    }
    let mut line = head.to_vec();
    let mut byte = [0u8; 1];
    // Byte by byte to the CRLF: nothing of the request after it is consumed. Balancers keep their connections,
    // so this is once per connection, not per request.
    while !line.ends_with(b"\r\n") {
        if line.len() >= V1_MAX {
            return Err(ProxyError::Malformed("a version 1 line over 107 bytes"));
        }
        io.read_exact(&mut byte).await.map_err(io_err)?;
        line.push(byte[0]);
    }
    parse_v1(&line[..line.len() - 2])
}

/// `PROXY TCP4 192.0.2.1 198.51.100.1 56324 443` (without CRLF).
fn parse_v1(line: &[u8]) -> Result<Source, ProxyError> {
    let text = std::str::from_utf8(line).map_err(|_| ProxyError::Malformed("a version 1 line that is not ASCII"))?;
    let mut f = text.split(' ');
    let (Some("PROXY"), Some(proto)) = (f.next(), f.next()) else {
        return Err(ProxyError::Malformed("a version 1 line without a protocol"));
    };
    if proto == "UNKNOWN" {
        return Ok(Source::Own);
    }
    let (Some(src), Some(_dst), Some(sport), Some(_dport), None) = (f.next(), f.next(), f.next(), f.next(), f.next()) else {
        return Err(ProxyError::Malformed("a version 1 line without two addresses and two ports"));
    };
    let ip: IpAddr = src.parse().map_err(|_| ProxyError::Malformed("a version 1 source address that is not an address"))?;
    let port: u16 = sport.parse().map_err(|_| ProxyError::Malformed("a version 1 source port that is not a port"))?;
    match (proto, ip) {
        ("TCP4", IpAddr::V4(_)) | ("TCP6", IpAddr::V6(_)) => Ok(Source::Client(SocketAddr::new(ip, port))),
        _ => Err(ProxyError::Malformed("a version 1 protocol that is not TCP4 or TCP6, or does not fit its address")),
    }
}

fn parse_v2(version_command: u8, family: u8, block: &[u8]) -> Result<Source, ProxyError> {
    if version_command >> 4 != 2 {
        return Err(ProxyError::Malformed("a version 2 signature with another version"));
    }
    match version_command & 0x0f {
        0 => return Ok(Source::Own),
        1 => {}
        _ => return Err(ProxyError::Malformed("a version 2 command that is neither LOCAL nor PROXY")),
    }
    match family {
        // TCP or UDP over IPv4: source, destination, source port, destination port.
        0x11 | 0x12 if block.len() >= 12 => {
            let ip = Ipv4Addr::new(block[0], block[1], block[2], block[3]);
            Ok(Source::Client(SocketAddr::new(IpAddr::V4(ip), u16::from_be_bytes([block[8], block[9]]))))
        }
        0x21 | 0x22 if block.len() >= 36 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&block[..16]);
            Ok(Source::Client(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(a)), u16::from_be_bytes([block[32], block[33]]))))
        }
        // Unix sockets or unspecified: no client address to take.
        0x00 | 0x31 | 0x32 => Ok(Source::Own),
        _ => Err(ProxyError::Malformed("a version 2 address block too short for its family")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(bytes: &[u8]) -> (Result<Source, ProxyError>, Vec<u8>) {
        let mut io = bytes;
        let r = read(&mut io, Duration::from_secs(1)).await;
        (r, io.to_vec())
    }

    #[tokio::test]
    async fn both_versions_are_read_exactly() {
        let (r, rest) = run(b"PROXY TCP4 203.0.113.7 10.0.0.1 56324 8280\r\nGET / HTTP/1.1\r\n").await;
        assert_eq!(r, Ok(Source::Client("203.0.113.7:56324".parse().expect("addr"))));
        assert_eq!(rest, b"GET / HTTP/1.1\r\n", "nothing after the header is consumed");
        let (r, _) = run(b"PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n").await;
        assert_eq!(r, Ok(Source::Client("[2001:db8::1]:1".parse().expect("addr"))));
        assert_eq!(run(b"PROXY UNKNOWN\r\n").await.0, Ok(Source::Own));

        let mut v2 = V2_SIGNATURE.to_vec();
        v2.extend_from_slice(&[0x21, 0x11, 0, 12, 198, 51, 100, 9, 10, 0, 0, 1, 0x1f, 0x90, 0x20, 0x58]);
        v2.extend_from_slice(b"\x16\x03\x01");
        let (r, rest) = run(&v2).await;
        assert_eq!(r, Ok(Source::Client("198.51.100.9:8080".parse().expect("addr"))));
        assert_eq!(rest, b"\x16\x03\x01", "a TLS hello after the header is left for the handshake");
        let mut local = V2_SIGNATURE.to_vec();
        local.extend_from_slice(&[0x20, 0x00, 0, 0]);
        assert_eq!(run(&local).await.0, Ok(Source::Own));
    }

    #[tokio::test]
    async fn bad_headers_are_refused_by_name() {
        assert_eq!(run(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await.0, Err(ProxyError::Missing));
        for bad in [
            &b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"[..],
            b"PROXY TCP4 ::1 ::1 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 2\r\n",
            b"PROXY SCTP 1.2.3.4 5.6.7.8 1 2\r\n",
        ] {
            assert!(matches!(run(bad).await.0, Err(ProxyError::Malformed(_))), "{}", String::from_utf8_lossy(bad));
        }
        let long = [b"PROXY TCP4 ".as_slice(), &[b'1'; 200]].concat();
        assert!(matches!(run(&long).await.0, Err(ProxyError::Malformed(_))));
        let mut v2 = V2_SIGNATURE.to_vec();
        v2.extend_from_slice(&[0x21, 0x11, 0, 4, 1, 2, 3, 4]);
        assert!(matches!(run(&v2).await.0, Err(ProxyError::Malformed(_))), "a block too short for IPv4");
        let mut huge = V2_SIGNATURE.to_vec();
        huge.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        assert!(matches!(run(&huge).await.0, Err(ProxyError::Malformed(_))));
        assert!(matches!(run(b"PROXY TCP4 1.2").await.0, Err(ProxyError::Io(_))), "cut short");
        // Silence: the deadline, not a hang.
        let (_client, mut server) = tokio::io::duplex(64);
        assert!(matches!(read(&mut server, Duration::from_millis(50)).await, Err(ProxyError::Timeout(_))));
    }
}
