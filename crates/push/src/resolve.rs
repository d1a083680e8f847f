//! Name resolution that refuses private addresses. Web Push endpoints are URLs devices chose:
//! the HTTP client resolves their host names through this resolver at every connection, so a
//! name that points (or is re-pointed, DNS rebinding) at loopback, private, link-local or other
//! non-public addresses is never connected to.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, SocketAddr};

/// Whether an address is on the public internet: not loopback, private, link-local, shared
/// (100.64/10), IETF protocol assignments (192.0.0/24), benchmarking, documentation, multicast,
/// reserved or unspecified; IPv4-mapped IPv6 is judged as IPv4, and IPv6 ranges that reach IPv4
/// or private networks through a translator or tunnel (NAT64 64:ff9b::/96 and 64:ff9b:1::/48,
/// 6to4 2002::/16, Teredo 2001::/32, IPv4-compatible ::/96) are refused, as are documentation
/// (2001:db8::/32, 3fff::/20), discard (100::/64), benchmarking (2001:2::/48) and ORCHID
/// (2001:10::/28, 2001:20::/28) ranges.
pub fn is_public_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_address(IpAddr::V4(v4));
            }
            let s = v6.segments();
            let first = s[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                // IPv4-compatible (deprecated): ::a.b.c.d.
                || s[..6] == [0; 6]
                // NAT64, well-known and local-use prefixes.
                || (s[..6] == [0x64, 0xff9b, 0, 0, 0, 0])
                || (first == 0x64 && s[1] == 0xff9b && s[2] == 1)
                // 6to4 and Teredo tunnels.
                || first == 0x2002
                || (first == 0x2001 && s[1] == 0)
                // Documentation, discard, benchmarking, ORCHID.
                || (first == 0x2001 && s[1] == 0xdb8)
                || (first & 0xfff0) == 0x3ff0
                || (first == 0x100 && s[1..4] == [0, 0, 0])
                || (first == 0x2001 && s[1] == 2 && s[2] == 0)
                || (first == 0x2001 && (s[1] & 0xfff0) == 0x10)
                || (first == 0x2001 && (s[1] & 0xfff0) == 0x20))
        }
    }
}

/// Resolves with the system resolver and keeps only public addresses (for `reqwest`'s
/// `dns_resolver`): any client fetching URLs that users chose can use it.
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public_address(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_pass() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "198.18.0.1",
            "203.0.113.5",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "192.0.0.8",
            "64:ff9b::7f00:1",
            "64:ff9b::808:808",
            "64:ff9b:1::a00:1",
            "2002:7f00:1::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:db8::1",
            "3fff::1",
            "100::1",
            "2001:2::1",
            "2001:10::1",
            "2001:20::1",
            "::127.0.0.1",
        ] {
            assert!(!is_public_address(private.parse().unwrap()), "{private}");
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "2001:4860:4860::8888",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "::ffff:8.8.8.8",
            "192.1.0.1",
        ] {
            assert!(is_public_address(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn names_of_private_addresses_do_not_resolve() {
        let r = PublicOnly.resolve("localhost".parse().unwrap()).await;
        assert!(r.is_err());
    }
}
