//! A hosts file of our own (`--hosts FILE`, `/etc/hosts` format), consulted before DNS, so the seed
//! configurations' host names (db.wso2.com, cp.wso2.com, ...) map to 127.0.0.x on one machine.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

#[derive(Clone, Debug, Default)]
pub struct HostsFile {
    map: HashMap<String, IpAddr>,
}

#[derive(Debug, thiserror::Error)]
pub enum HostsError {
    #[error("cannot read hosts file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}:{line}: `{text}` is not an IP address")]
    BadAddress { path: String, line: usize, text: String },
    #[error("{path}:{line}: address {addr} names no host")]
    NoNames { path: String, line: usize, addr: String },
}

impl HostsFile {
    pub fn load(path: &Path) -> Result<HostsFile, HostsError> {
        let text = std::fs::read_to_string(path).map_err(|source| HostsError::Read { path: path.display().to_string(), source })?;
        HostsFile::parse(&path.display().to_string(), &text)
    }

    pub fn parse(path: &str, text: &str) -> Result<HostsFile, HostsError> {
        let mut map = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut words = line.split_whitespace();
            let Some(addr) = words.next() else { continue };
            let ip: IpAddr = addr.parse().map_err(|_| HostsError::BadAddress { path: path.into(), line: i + 1, text: addr.into() })?;
            let mut any = false;
            for name in words {
                any = true;
                // First mapping wins, as in /etc/hosts.
                map.entry(name.to_ascii_lowercase()).or_insert(ip);
            }
            if !any {
                return Err(HostsError::NoNames { path: path.into(), line: i + 1, addr: addr.into() });
            }
        }
        Ok(HostsFile { map })
    }

    pub fn lookup(&self, host: &str) -> Option<IpAddr> {
        self.map.get(&host.to_ascii_lowercase()).copied()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts_format() {
        let h = HostsFile::parse("h", "# c\n127.0.0.2 db.wso2.com  cp.wso2.com # tail\n\n::1 v6.local\n127.0.0.9 DB.wso2.com\n")
            .expect("parse");
        assert_eq!(h.lookup("db.wso2.com"), Some("127.0.0.2".parse().expect("ip")));
        assert_eq!(h.lookup("CP.WSO2.COM"), Some("127.0.0.2".parse().expect("ip")));
        assert_eq!(h.lookup("v6.local"), Some("::1".parse().expect("ip")));
        assert_eq!(h.lookup("other"), None);
    }

    #[test]
    fn bad_lines_name_the_line() {
        let e = HostsFile::parse("f", "127.0.0.1 a\nnot-an-ip b\n").expect_err("bad");
        assert_eq!(e.to_string(), "f:2: `not-an-ip` is not an IP address");
        let e = HostsFile::parse("f", "127.0.0.1\n").expect_err("bad");
        assert!(e.to_string().contains("names no host"));
    }
}
