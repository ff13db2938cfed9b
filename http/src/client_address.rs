//! Who is asking, by network address: the connection's peer, or behind a trusted
//! gateway the address it adds to `X-Forwarded-For`.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap};

use crate::AppState;

/// The client's address: the connection's peer, or (behind a trusted gateway) the last
/// address of X-Forwarded-For — the one the gateway added; earlier ones are whatever the
/// client claimed.
pub struct ClientAddress(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self::of(state, &parts.headers, &parts.extensions))
    }
}

impl ClientAddress {
    /// The address of a request with these headers and extensions (for middleware,
    /// which has the request rather than its parts).
    pub fn of(state: &AppState, headers: &HeaderMap, extensions: &Extensions) -> Self {
        let forwarded = state
            .config
            .trust_forwarded_for
            .then(|| headers.get("x-forwarded-for")?.to_str().ok()?.rsplit(',').next()?.trim().parse().ok())
            .flatten();
        let peer = extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        Self(forwarded.or(peer))
    }
}

/// The address, or for IPv6 its /64: what one subscriber holds.
pub fn network_of(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::network_of;

    #[test]
    fn ipv6_viewers_count_by_their_64_and_mapped_ipv4_by_its_address() {
        let one = network_of("2001:db8:1:2:aaaa::1".parse().unwrap());
        assert_eq!(one, network_of("2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap()));
        assert_ne!(one, network_of("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(network_of("::ffff:203.0.113.9".parse().unwrap()), "203.0.113.9");
        assert_ne!(network_of("203.0.113.9".parse().unwrap()), network_of("203.0.113.10".parse().unwrap()));
    }
}
