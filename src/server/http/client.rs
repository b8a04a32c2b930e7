//! Who is asking, by address: the TCP peer, or, when the peer is a proxy on this machine
//! (loopback) that says whom it forwards (`X-Forwarded-For`, as the shipped nginx file sets
//! it), the address that proxy saw. Limits per client (streams, sign-in failures) count by
//! it, and only a request that came straight from loopback counts as local (`/metrics`).

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{request::Parts, HeaderMap},
};
use std::{
    convert::Infallible,
    net::{IpAddr, Ipv4Addr, SocketAddr},
};

/// The client's address, and whether a local proxy forwarded the request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClientAddr {
    pub ip: IpAddr,
    /// Came through a proxy on this machine: not a local request, whatever the peer.
    pub proxied: bool,
}

impl ClientAddr {
    /// From the TCP peer and the request's headers.
    pub fn of(peer: Option<SocketAddr>, headers: &HeaderMap) -> ClientAddr {
        // Without the peer (a test's router without a socket), an address no rule favours.
        let Some(peer) = peer else { return ClientAddr { ip: Ipv4Addr::UNSPECIFIED.into(), proxied: false } };
        let forwarded = headers.contains_key("x-forwarded-for") || headers.contains_key("forwarded");
        if !peer.ip().is_loopback() || !forwarded {
            return ClientAddr { ip: peer.ip(), proxied: false };
        }
        // The last entry is the one the proxy added; earlier ones are whatever the client sent.
        let seen_by_proxy = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .next_back()
            .and_then(|entry| entry.trim().parse::<IpAddr>().ok());
        ClientAddr { ip: seen_by_proxy.unwrap_or(peer.ip()), proxied: true }
    }

    /// Straight from this machine, not through a proxy.
    pub fn is_local(&self) -> bool {
        self.ip.is_loopback() && !self.proxied
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0);
        Ok(ClientAddr::of(peer, &parts.headers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs.iter().map(|(name, value)| (name.parse().unwrap(), value.parse().unwrap())).collect()
    }

    #[test]
    fn a_local_proxy_names_the_client_and_makes_the_request_not_local() {
        let loopback: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let remote: SocketAddr = "203.0.113.9:5000".parse().unwrap();
        let direct = ClientAddr::of(Some(loopback), &HeaderMap::new());
        assert!(direct.is_local());
        let proxied = ClientAddr::of(Some(loopback), &headers(&[("x-forwarded-for", "10.9.9.9, 198.51.100.7")]));
        assert_eq!(proxied, ClientAddr { ip: "198.51.100.7".parse().unwrap(), proxied: true }, "the proxy's entry");
        assert!(!proxied.is_local());
        let spoofed = ClientAddr::of(Some(loopback), &headers(&[("x-forwarded-for", "127.0.0.1")]));
        assert!(!spoofed.is_local(), "a forwarded request is never local");
        let from_afar = ClientAddr::of(Some(remote), &headers(&[("x-forwarded-for", "127.0.0.1")]));
        assert_eq!(from_afar.ip, remote.ip(), "only a local proxy is believed");
        assert!(!ClientAddr::of(None, &HeaderMap::new()).is_local());
    }
}
