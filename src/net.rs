//! Source addresses (section 2): the peer, or behind trusted proxies the right-most
//! `X-Forwarded-For` address that is not a proxy; and the key per-address limits count by
//! (IPv6 per /64, so one host cannot rotate through its own prefix).

use std::net::{IpAddr, Ipv6Addr};

/// An address range in CIDR form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(text: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("`{text}` is not an address or CIDR range"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}` has a prefix outside 0..={max}"))?,
            None => max,
        };
        Ok(Cidr { addr, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are their IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// The `trusted_proxies` setting.
#[derive(Clone, Debug, Default)]
pub struct ProxyList(Vec<Cidr>);

impl ProxyList {
    pub fn parse(text: &str) -> Result<ProxyList, String> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(Cidr::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(ProxyList)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    /// The source address of a request from `peer` carrying these `X-Forwarded-For` values.
    pub fn source<'a>(&self, peer: IpAddr, forwarded_for: impl Iterator<Item = &'a str>) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<&str> = forwarded_for
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        let mut source = peer;
        for hop in hops.iter().rev() {
            match parse_hop(hop) {
                Ok(ip) => {
                    source = canonical(ip);
                    if !self.trusts(source) {
                        return source;
                    }
                }
                // A hop that is not an address was written by someone we do not trust.
                Err(_) => return source,
            }
        }
        source
    }
}

/// A hop as proxies write it: an address, or with a port (`1.2.3.4:80`, `[2001:db8::1]:443`).
fn parse_hop(hop: &str) -> Result<IpAddr, std::net::AddrParseError> {
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<std::net::SocketAddr>().map(|s| s.ip()))
}

/// The key a per-address limit counts under: the IPv4 address, or the IPv6 /64.
pub fn limit_key(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let net = u128::from(v6) & (u128::MAX << 64);
            format!("{}/64", Ipv6Addr::from(net))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_ranges_and_refuses_nonsense() {
        let list = ProxyList::parse("127.0.0.0/8, ::1/128,10.1.2.3").unwrap();
        assert!(list.trusts(ip("127.9.9.9")));
        assert!(list.trusts(ip("::1")));
        assert!(list.trusts(ip("::ffff:127.0.0.1")));
        assert!(list.trusts(ip("10.1.2.3")));
        assert!(!list.trusts(ip("10.1.2.4")));
        assert!(ProxyList::parse("10.0.0.0/33").is_err());
        assert!(ProxyList::parse("nope").is_err());
        assert!(ProxyList::parse("").unwrap().0.is_empty());
        assert!(ProxyList::parse("0.0.0.0/0").unwrap().trusts(ip("8.8.8.8")));
    }

    #[test]
    fn the_source_is_the_rightmost_untrusted_hop() {
        let list = ProxyList::parse("127.0.0.0/8,10.0.0.0/8").unwrap();
        let source = |peer: &str, xff: &[&str]| list.source(ip(peer), xff.iter().copied());
        // An untrusted peer's header is ignored.
        assert_eq!(source("203.0.113.9", &["198.51.100.1"]), ip("203.0.113.9"));
        // Behind two proxies, the client's own claims on the left are ignored.
        assert_eq!(
            source("127.0.0.1", &["1.1.1.1, 198.51.100.7", "10.0.0.2"]),
            ip("198.51.100.7")
        );
        assert_eq!(source("127.0.0.1", &[]), ip("127.0.0.1"));
        assert_eq!(source("127.0.0.1", &["10.0.0.5"]), ip("10.0.0.5"));
        assert_eq!(source("127.0.0.1", &["garbage"]), ip("127.0.0.1"));
        assert_eq!(
            source("127.0.0.1", &["198.51.100.9:4711"]),
            ip("198.51.100.9")
        );
        assert_eq!(
            source("127.0.0.1", &["[2001:db8::7]:443"]),
            ip("2001:db8::7")
        );
    }

    #[test]
    fn ipv6_counts_per_64() {
        assert_eq!(
            limit_key(ip("2001:db8:1:2:aaaa::1")),
            limit_key(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            limit_key(ip("2001:db8:1:2::1")),
            limit_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(limit_key(ip("::ffff:192.0.2.1")), "192.0.2.1");
    }
}
