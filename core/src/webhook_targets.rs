//! Where a webhook may be sent: an `http(s)` URL without credentials whose host, once
//! resolved, is a public address — never loopback, private, link-local (the cloud
//! metadata service at 169.254.169.254), shared, multicast or otherwise special, unless
//! the operator allows private targets (`STREAMBOX_WEBHOOK_ALLOW_PRIVATE`). Checked when
//! an endpoint is registered and again on every delivery, after DNS resolution, so a
//! name that later resolves inside the network is refused then.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use url::{Host, Url};

/// Longest URL an endpoint may have.
pub const MAX_URL_LEN: usize = 2048;

/// How long resolving a name may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a URL is not a place a webhook may go, in words for the person registering it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Not an absolute http(s) URL with a host, or too long, or carrying credentials.
    #[error("{0}")]
    Malformed(&'static str),
    /// The host is, or resolves to, an address inside the network.
    #[error("{host} is {why}; webhooks go to public addresses only")]
    Forbidden {
        /// The host as written.
        host: String,
        /// Which kind of address it is or resolves to.
        why: String,
    },
    /// The name did not resolve.
    #[error("{0} does not resolve")]
    Unresolvable(String),
}

/// Parses and checks the form of a webhook URL (not where it points).
pub fn parse(raw: &str) -> Result<Url, TargetError> {
    if raw.len() > MAX_URL_LEN {
        return Err(TargetError::Malformed("is longer than 2048 characters"));
    }
    let url = Url::parse(raw).map_err(|_| TargetError::Malformed("is not an absolute URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(TargetError::Malformed("must be an http or https URL"));
    }
    if url.host().is_none() {
        return Err(TargetError::Malformed("has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(TargetError::Malformed("must not carry credentials; verify deliveries by their signature"));
    }
    if url.fragment().is_some() {
        return Err(TargetError::Malformed("must not have a #fragment"));
    }
    Ok(url)
}

/// Checks where `url` points: its host's every address must be allowed.
pub async fn check(url: &Url, allow_private: bool) -> Result<(), TargetError> {
    let addresses: Vec<IpAddr> = match url.host() {
        Some(Host::Ipv4(ip)) => vec![ip.into()],
        Some(Host::Ipv6(ip)) => vec![ip.into()],
        Some(Host::Domain(name)) => {
            let port = url.port_or_known_default().unwrap_or(443);
            resolve(name, port).await?.iter().map(SocketAddr::ip).collect()
        }
        None => return Err(TargetError::Malformed("has no host")),
    };
    allowed_addresses(url.host_str().unwrap_or_default().trim_matches(['[', ']']), addresses, allow_private)
}

/// Resolves `name`, refusing when it has no address or takes too long.
pub async fn resolve(name: &str, port: u16) -> Result<Vec<SocketAddr>, TargetError> {
    let lookup = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((name, port)));
    match lookup.await {
        Ok(Ok(addresses)) => {
            let addresses: Vec<SocketAddr> = addresses.collect();
            if addresses.is_empty() { Err(TargetError::Unresolvable(name.to_owned())) } else { Ok(addresses) }
        }
        _ => Err(TargetError::Unresolvable(name.to_owned())),
    }
}

/// Refuses when any of `addresses` is not allowed: a name with one private answer
/// among public ones is refused whole (a rebinding attacker controls the order).
pub fn allowed_addresses(
    host: &str,
    addresses: impl IntoIterator<Item = IpAddr>,
    allow_private: bool,
) -> Result<(), TargetError> {
    if allow_private {
        return Ok(());
    }
    for ip in addresses {
        if let Some(why) = forbidden(ip) {
            let why = if host == ip.to_string() { why.to_owned() } else { format!("{why} ({ip})") };
            return Err(TargetError::Forbidden { host: host.to_owned(), why });
        }
    }
    Ok(())
}

/// What kind of non-public address `ip` is; `None` for a public one.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address (cloud metadata lives there)")
    } else if ip.is_unspecified() || a == 0 {
        Some("an unspecified address")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a shared (carrier-grade NAT) address")
    } else if ip.is_multicast() || ip.is_broadcast() || a >= 240 {
        Some("a multicast, broadcast or reserved address")
    } else if (a == 192 && b == 0) || (a == 198 && (18..20).contains(&b)) || ip.is_documentation() {
        Some("a special-purpose address")
    } else {
        None
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    // Addresses that carry an IPv4 address reach it: judge that one.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    if segments[0] == 0x64 && segments[1] == 0xff9b {
        let [.., a, b, c, d] = ip.octets();
        return forbidden_v4(Ipv4Addr::new(a, b, c, d));
    }
    if segments[0] == 0x2002 {
        let [_, _, a, b, c, d, ..] = ip.octets();
        return forbidden_v4(Ipv4Addr::new(a, b, c, d));
    }
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() || segments[..6] == [0; 6] {
        Some("an unspecified or IPv4-compatible address")
    } else if segments[0] & 0xfe00 == 0xfc00 {
        Some("a private (unique local) address")
    } else if segments[0] & 0xffc0 == 0xfe80 {
        Some("a link-local address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if segments[0] == 0x2001 && segments[1] == 0x0db8 {
        Some("a documentation address")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_without_credentials_are_taken() {
        assert!(parse("https://hooks.example.com/streambox?x=1").is_ok());
        for bad in [
            "ftp://example.com/",
            "file:///etc/passwd",
            "example.com/hook",
            "https://user:pw@example.com/",
            "https://example.com/#x",
            "gopher://example.com",
        ] {
            assert!(matches!(parse(bad), Err(TargetError::Malformed(_))), "{bad}");
        }
        assert!(parse(&format!("https://example.com/{}", "a".repeat(2100))).is_err());
    }

    #[test]
    fn addresses_inside_the_network_are_forbidden() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2002:a00:1::",
            "::127.0.0.1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(forbidden(ip).is_some(), "{ip} should be forbidden");
        }
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "::ffff:93.184.216.34"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(forbidden(ip), None, "{ip} is public");
        }
    }

    #[test]
    fn a_name_with_any_private_answer_is_refused_unless_private_targets_are_allowed() {
        let answers: Vec<IpAddr> = vec!["93.184.216.34".parse().unwrap(), "10.0.0.7".parse().unwrap()];
        let refused = allowed_addresses("hooks.example.com", answers.clone(), false).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "hooks.example.com is a private address (10.0.0.7); webhooks go to public addresses only"
        );
        assert!(allowed_addresses("hooks.example.com", answers, true).is_ok());
    }

    #[tokio::test]
    async fn literal_and_resolved_hosts_are_checked() {
        for url in [
            "http://127.0.0.1:9/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://localhost:8080/",
        ] {
            let url = parse(url).unwrap();
            assert!(matches!(check(&url, false).await, Err(TargetError::Forbidden { .. })), "{url}");
            assert!(check(&url, true).await.is_ok(), "{url} with private targets allowed");
        }
        let unresolvable = parse("https://no-such-host.invalid/hook").unwrap();
        assert!(matches!(check(&unresolvable, false).await, Err(TargetError::Unresolvable(_))));
    }
}
