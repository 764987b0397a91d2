//! The guard against server-side request forgery: webhook URLs must not reach private,
//! loopback, link-local (cloud metadata) or otherwise non-public addresses, unless the
//! operator allows it (`MOMENTUM_WEBHOOK_ALLOW_PRIVATE`). Checked when an endpoint is
//! saved and again for every request, on the addresses DNS gives at that moment: the
//! worker's client resolves through [`GuardedResolver`], so the address checked is the
//! address connected to (no window for DNS rebinding). That holds only without a proxy:
//! the worker's client ignores the environment's proxy variables, and a proxy the
//! operator names (`MOMENTUM_WEBHOOK_PROXY`) resolves and connects by itself, so it must
//! enforce the same egress rules.
//!
//! What is refused is a table of CIDR blocks: every block of IANA's IPv4 and IPv6
//! Special-Purpose Address Registries (even those the registry marks globally reachable,
//! such as anycast relays and AS112: none of them is a webhook receiver), multicast,
//! and, for IPv6, anything outside global unicast `2000::/3`. Refusals never name the
//! address a host resolved to: that would tell a tenant what is inside the network.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipnet::{Ipv4Net, Ipv6Net};
use url::{Host, Url};

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len)
}

const fn v6(s: [u16; 8], len: u8) -> Ipv6Net {
    Ipv6Net::new_assert(
        Ipv6Addr::new(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]),
        len,
    )
}

/// IPv4 blocks webhooks must not reach: IANA's special-purpose registry and multicast.
#[rustfmt::skip]
const FORBIDDEN_V4: [(Ipv4Net, &str); 18] = [
    (v4(0, 0, 0, 0, 8), "\"this network\" (RFC 791)"),
    (v4(10, 0, 0, 0, 8), "private (RFC 1918)"),
    (v4(100, 64, 0, 0, 10), "shared address space, carrier-grade NAT (RFC 6598)"),
    (v4(127, 0, 0, 0, 8), "loopback (RFC 1122)"),
    (v4(169, 254, 0, 0, 16), "link-local, cloud metadata (RFC 3927)"),
    (v4(172, 16, 0, 0, 12), "private (RFC 1918)"),
    (v4(192, 0, 0, 0, 24), "IETF protocol assignments, DS-Lite, NAT64 discovery (RFC 6890)"),
    (v4(192, 0, 2, 0, 24), "documentation TEST-NET-1 (RFC 5737)"),
    (v4(192, 31, 196, 0, 24), "AS112-v4 (RFC 7535)"),
    (v4(192, 52, 193, 0, 24), "AMT (RFC 7450)"),
    (v4(192, 88, 99, 0, 24), "6to4 relay anycast, deprecated (RFC 7526)"),
    (v4(192, 168, 0, 0, 16), "private (RFC 1918)"),
    (v4(192, 175, 48, 0, 24), "direct delegation AS112 service (RFC 7534)"),
    (v4(198, 18, 0, 0, 15), "benchmarking (RFC 2544)"),
    (v4(198, 51, 100, 0, 24), "documentation TEST-NET-2 (RFC 5737)"),
    (v4(203, 0, 113, 0, 24), "documentation TEST-NET-3 (RFC 5737)"),
    (v4(224, 0, 0, 0, 4), "multicast (RFC 5771)"),
    (v4(240, 0, 0, 0, 4), "reserved, limited broadcast included (RFC 1112, RFC 919)"),
];

/// The only IPv6 space webhooks may reach: global unicast (RFC 4291). Everything outside
/// is reserved, local, multicast or special (the table below names those ranges too).
const GLOBAL_UNICAST: Ipv6Net = v6([0x2000, 0, 0, 0, 0, 0, 0, 0], 3);

/// NAT64's well-known prefix (RFC 6052): the last 32 bits are an IPv4 address, and the
/// IPv4 rules decide. An IPv6-only network with DNS64 reaches every IPv4-only receiver
/// this way, so refusing the whole prefix would refuse them all; RFC 6052 forbids the
/// prefix for non-global IPv4 addresses, so refusing those loses nothing legitimate.
const NAT64_WELL_KNOWN: Ipv6Net = v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96);

/// IPv6 blocks webhooks must not reach: IANA's special-purpose registry, multicast and
/// the local scopes. Those outside `2000::/3` are refused by [`GLOBAL_UNICAST`] already
/// and are listed to be named; the ones inside it are refused only by this table.
/// IPv4-mapped addresses (`::ffff:0:0/96`) follow the IPv4 rules.
#[rustfmt::skip]
const FORBIDDEN_V6: [(Ipv6Net, &str); 15] = [
    (v6([0, 0, 0, 0, 0, 0, 0, 0], 128), "unspecified (RFC 4291)"),
    (v6([0, 0, 0, 0, 0, 0, 0, 1], 128), "loopback (RFC 4291)"),
    (v6([0, 0, 0, 0, 0, 0, 0, 0], 96), "IPv4-compatible, deprecated (RFC 4291)"),
    (v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48), "local-use NAT64 (RFC 8215)"),
    (v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64), "discard-only (RFC 6666)"),
    // Teredo (2001::/32), benchmarking (2001:2::/48), ORCHID (2001:10::/28), ORCHIDv2
    // (2001:20::/28), AMT, AS112-v6 and the protocol anycasts: none is a receiver.
    (v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23), "IETF protocol assignments (RFC 2928)"),
    (v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), "documentation (RFC 3849)"),
    (v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16), "6to4, deprecated (RFC 3056, RFC 7526)"),
    (v6([0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0], 48), "direct delegation AS112 (RFC 7534)"),
    (v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), "documentation (RFC 9637)"),
    (v6([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16), "SRv6 SIDs (RFC 9602)"),
    (v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), "unique local, fd00:ec2::254 metadata (RFC 4193)"),
    (v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), "link-local (RFC 4291)"),
    (v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), "site-local, deprecated (RFC 3879)"),
    (v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), "multicast (RFC 4291)"),
];

/// Whether `ip` is an address webhooks must not reach.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    FORBIDDEN_V4.iter().any(|(net, _)| net.contains(&ip))
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    if NAT64_WELL_KNOWN.contains(&ip) {
        let [.., high, low] = ip.segments();
        let embedded = (u32::from(high) << 16) | u32::from(low);
        return forbidden_v4(Ipv4Addr::from(embedded));
    }
    !GLOBAL_UNICAST.contains(&ip) || FORBIDDEN_V6.iter().any(|(net, _)| net.contains(&ip))
}

/// Checks a URL's form: absolute `http` or `https` with a host. The message says what is
/// wrong, for a 422 on `url`.
pub fn parse_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("is not a valid URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http or https URL".into());
    }
    if url.host().is_none() {
        return Err("must name a host".into());
    }
    if url.fragment().is_some() {
        return Err("must not have a fragment".into());
    }
    Ok(url)
}

/// Refuses a URL whose host is, or resolves to, a forbidden address. A name that does not
/// resolve now is accepted: DNS may come later, and every request is checked again.
pub async fn check_destination(url: &Url, allow_private: bool) -> Result<(), String> {
    if allow_private {
        return Ok(());
    }
    // The messages never name an address: for a name, the address it resolved to is
    // the network's, not the tenant's to learn; for a literal, the parser may have
    // rewritten what was typed (`2130706433` is 127.0.0.1).
    let literal = |ip: IpAddr| {
        if is_forbidden(ip) {
            Err(format!("is a {NON_PUBLIC}, which webhooks may not reach"))
        } else {
            Ok(())
        }
    };
    match url.host() {
        Some(Host::Ipv4(ip)) => literal(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => literal(IpAddr::V6(ip)),
        Some(Host::Domain(name)) => {
            let this_machine =
                name.eq_ignore_ascii_case("localhost") || name.ends_with(".localhost");
            let port = url.port_or_known_default().unwrap_or(443);
            let forbidden = this_machine
                || match tokio::net::lookup_host((name, port)).await {
                    Ok(mut addrs) => addrs.any(|a| is_forbidden(a.ip())),
                    Err(_) => false,
                };
            if forbidden {
                Err(format!(
                    "names a host that resolves to a {NON_PUBLIC}, which webhooks may not \
                     reach"
                ))
            } else {
                Ok(())
            }
        }
        None => Err("must name a host".into()),
    }
}

/// What a refused address is, in every message, without naming it.
pub const NON_PUBLIC: &str = "non-public address (private, loopback, link-local or reserved)";

/// The worker's resolver: the system's, minus forbidden addresses. A name with only
/// forbidden addresses fails to resolve, so the request is never made.
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allow_private || !is_forbidden(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!(
                    "{host} has no address webhooks may reach (it resolves to no address, or \
                     only to a {NON_PUBLIC})"
                )
                .into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forbidden(ip: &str) -> bool {
        is_forbidden(ip.parse().unwrap())
    }

    #[test]
    fn private_loopback_link_local_and_metadata_addresses_are_forbidden() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(forbidden(ip), "{ip} should be refused");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!forbidden(ip), "{ip} should be allowed");
        }
    }

    /// An address from every special-purpose range (IANA's IPv4 and IPv6 registries,
    /// multicast, and the IPv6 space outside global unicast), each beside public
    /// neighbours that must stay reachable.
    #[test]
    fn special_purpose_ranges_are_refused_and_their_public_neighbours_allowed() {
        let refused = [
            // IPv4
            ("0.1.2.3", "this network 0/8"),
            ("10.0.0.1", "private 10/8"),
            ("100.64.0.1", "shared address space 100.64/10"),
            ("100.127.255.254", "shared address space 100.64/10"),
            ("127.0.0.2", "loopback"),
            ("169.254.169.254", "link-local, cloud metadata"),
            ("172.31.255.255", "private 172.16/12"),
            ("192.0.0.9", "IETF protocol assignments 192.0.0/24"),
            ("192.0.0.170", "NAT64 discovery"),
            ("192.0.2.1", "documentation TEST-NET-1"),
            ("192.31.196.1", "AS112-v4"),
            ("192.52.193.1", "AMT"),
            ("192.88.99.1", "6to4 relay anycast"),
            ("192.168.0.1", "private 192.168/16"),
            ("192.175.48.1", "direct delegation AS112"),
            ("198.18.0.1", "benchmarking 198.18/15"),
            ("198.19.255.255", "benchmarking 198.18/15"),
            ("198.51.100.7", "documentation TEST-NET-2"),
            ("203.0.113.7", "documentation TEST-NET-3"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("240.0.0.1", "reserved 240/4"),
            ("255.255.255.255", "limited broadcast"),
            // IPv6
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("::10.0.0.1", "IPv4-compatible (deprecated)"),
            ("::8.8.8.8", "IPv4-compatible (deprecated)"),
            ("::ffff:10.0.0.1", "IPv4-mapped, private"),
            ("::ffff:169.254.169.254", "IPv4-mapped, metadata"),
            ("64:ff9b::a00:1", "NAT64 of 10.0.0.1"),
            ("64:ff9b::a9fe:a9fe", "NAT64 of 169.254.169.254"),
            ("64:ff9b::7f00:1", "NAT64 of 127.0.0.1"),
            ("64:ff9b:1::808:808", "local-use NAT64 64:ff9b:1::/48"),
            ("100::1", "discard-only 100::/64"),
            ("2001::1", "Teredo 2001::/32"),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
            ("2001:2::1", "benchmarking 2001:2::/48"),
            ("2001:10::1", "ORCHID 2001:10::/28"),
            ("2001:20::1", "ORCHIDv2 2001:20::/28"),
            ("2001:1ff:ffff::1", "IETF protocol assignments 2001::/23"),
            ("2001:db8::1", "documentation 2001:db8::/32"),
            ("2002:a00:1::1", "6to4 2002::/16"),
            ("2002:808:808::1", "6to4 2002::/16"),
            (
                "2620:4f:8000::1",
                "direct delegation AS112 2620:4f:8000::/48",
            ),
            ("3fff::1", "documentation 3fff::/20"),
            ("3fff:fff::1", "documentation 3fff::/20"),
            ("5f00::1", "SRv6 SIDs 5f00::/16"),
            ("fc00::1", "unique local"),
            ("fd00:ec2::254", "unique local, AWS metadata"),
            ("fe80::1", "link-local"),
            ("fec0::1", "site-local (deprecated)"),
            ("ff02::1", "multicast"),
            ("4000::1", "outside global unicast 2000::/3"),
        ];
        let allowed = [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.1",
            "192.0.3.1",
            "192.31.195.255",
            "192.31.197.0",
            "192.52.192.255",
            "192.52.194.0",
            "192.88.98.255",
            "192.88.100.0",
            "192.167.255.255",
            "192.169.0.0",
            "192.175.47.255",
            "192.175.49.0",
            "198.17.255.255",
            "198.20.0.0",
            "198.51.99.255",
            "198.51.101.0",
            "203.0.112.255",
            "203.0.114.0",
            "223.255.255.255",
            "93.184.216.34",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2001:200::1",
            "2001:4860:4860::8888",
            "2001:db7:ffff::1",
            "2001:db9::1",
            "2003::1",
            "2606:4700::1111",
            "2620:4f:7fff::1",
            "2620:4f:8001::1",
            "3ffe:ffff::1",
            "3fff:1000::1",
        ];
        let wrongly_allowed: Vec<String> = refused
            .iter()
            .filter(|(ip, _)| !forbidden(ip))
            .map(|(ip, what)| format!("{ip} ({what})"))
            .collect();
        let wrongly_refused: Vec<&str> = allowed.into_iter().filter(|ip| forbidden(ip)).collect();
        assert!(
            wrongly_allowed.is_empty() && wrongly_refused.is_empty(),
            "allowed but must be refused: {wrongly_allowed:?}; refused but public: \
             {wrongly_refused:?}"
        );
    }

    #[tokio::test]
    async fn literal_and_named_local_destinations_are_refused_unless_allowed() {
        for raw in [
            "http://127.0.0.1:9000/hook",
            "http://[::1]/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://localhost/hook",
            "https://10.0.0.7/hook",
        ] {
            let url = parse_url(raw).unwrap();
            assert!(check_destination(&url, false).await.is_err(), "{raw}");
            assert!(check_destination(&url, true).await.is_ok(), "{raw}");
        }
    }

    #[test]
    fn only_absolute_http_urls_are_accepted() {
        assert!(parse_url("https://example.com/hooks").is_ok());
        assert!(parse_url("ftp://example.com/").is_err());
        assert!(parse_url("/relative").is_err());
        assert!(parse_url("https://example.com/#frag").is_err());
    }

    #[tokio::test]
    async fn the_resolver_drops_forbidden_addresses() {
        use reqwest::dns::Resolve;
        let resolver = GuardedResolver {
            allow_private: false,
        };
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        assert!(resolver.resolve(name).await.is_err());
        let permissive = GuardedResolver {
            allow_private: true,
        };
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        assert!(permissive.resolve(name).await.unwrap().next().is_some());
    }
}
