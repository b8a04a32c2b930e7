//! Origins and hosts (PROTOCOL.md, "Auth"): a request that carries an `Origin` must come from
//! the server's own origin (its host and port equal to the `Host` it was sent to) or from one
//! listed in `--allowed-origins`; a write that says it is cross-site (`Sec-Fetch-Site`) is
//! refused even without one. `Origin: null` passes only with `Sec-Fetch-Site: same-origin`:
//! that is how a browser sends this server's own forms under `Referrer-Policy: no-referrer`.
//! Without sign-in (local open mode, and `--insecure-open`), the `Host` must be one the server
//! knows (`HostAllowlist`: a loopback name, an IP address, the `--public-url`'s host or one of
//! `--allowed-hosts`), so that a web page cannot reach the server through a DNS name it
//! rebinds to the server's address. With sign-in every request needs a credential, and the
//! `Host` is checked only against an `--allowed-hosts` list the operator gave. Refusals are
//! `403 forbidden`, before any upgrade or body, and are logged with the Origin, the Host and
//! the allowed list.

use crate::server::http::{error::ErrorCounter, ApiError};
use axum::{
    extract::{Request, State},
    http::{header, HeaderMap, Method},
    middleware::Next,
    response::{IntoResponse, Response},
};
use std::{net::IpAddr, sync::Arc};

/// A web origin: scheme, host (lowercase, IPv6 without brackets) and port (the scheme's default
/// when absent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    /// `scheme://host[:port]` as browsers send it in `Origin`; nothing else (no path, no user,
    /// not `null`).
    pub fn parse(text: &str) -> Option<Origin> {
        let (scheme, rest) = text.split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return None,
        };
        let (host, port) = parse_host(rest)?;
        Some(Origin { scheme, host, port: port.unwrap_or(default_port) })
    }

    pub fn is_https(&self) -> bool {
        self.scheme == "https"
    }

    /// The host, lowercase (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Whether this origin is the server's own, reached as `host` (a `Host` header). The scheme
    /// is not compared: `Host` does not carry it, and behind a TLS proxy the page is `https`
    /// while the server speaks `http`; nothing else can serve a page from the same host:port.
    fn is_host(&self, host: &str) -> bool {
        let Some((name, port)) = parse_host(host) else { return false };
        let port = port.unwrap_or(if self.scheme == "https" { 443 } else { 80 });
        name == self.host && port == self.port
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        write!(f, "{}://{host}:{}", self.scheme, self.port)
    }
}

/// `host[:port]` (a `Host` header, or an origin's authority): the host lowercased (IPv6
/// without brackets) and the port if given. `None` for anything else.
fn parse_host(text: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        v6.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?.parse().ok()?),
        };
        (v6.to_owned(), port)
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) => (host.to_owned(), Some(port.parse().ok()?)),
            None => (text.to_owned(), None),
        }
    };
    let valid = !host.is_empty()
        && host.len() <= 253
        && (text.starts_with('[')
            || host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')));
    valid.then(|| (host.to_ascii_lowercase(), port))
}

/// Whether a `Host` names this machine's loopback: `localhost` (and `*.localhost`, RFC 6761),
/// 127.0.0.0/8 or ::1.
pub fn is_loopback_host(host: &str) -> bool {
    let Some((name, _)) = parse_host(host) else { return false };
    name == "localhost" || name.ends_with(".localhost") || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The `Host` names a server answers to: loopback names, IP addresses (a browser that sends one
/// was pointed at the address itself: nothing a page can rebind), and the names listed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostAllowlist {
    /// Lowercase names, without ports.
    pub names: Vec<String>,
}

impl HostAllowlist {
    /// Whether `host` (a `Host` header, port optional) is one of them.
    pub fn permits(&self, host: &str) -> bool {
        let Some((name, _)) = parse_host(host) else { return false };
        is_loopback_host(host) || name.parse::<IpAddr>().is_ok() || self.names.contains(&name)
    }
}

/// A host name as `--allowed-hosts` takes it (`dash.example.com`, a port is ignored).
pub fn parse_host_name(text: &str) -> Result<String, String> {
    parse_host(text.trim())
        .map(|(name, _)| name)
        .ok_or_else(|| format!("{text:?} is not a host name like dash.example.com"))
}

/// The origin rules of one server.
pub struct OriginPolicy {
    /// The `Host` names answered to, when they are checked.
    pub hosts: Option<HostAllowlist>,
    /// Origins allowed besides the server's own.
    pub allowed: Vec<Origin>,
    /// Refusals are counted as `livedash_errors_total{endpoint="origin",code="forbidden"}`.
    pub errors: Arc<dyn ErrorCounter>,
}

impl OriginPolicy {
    /// Why a request with these headers is refused, if it is.
    pub fn refusal(&self, method: &Method, headers: &HeaderMap) -> Option<&'static str> {
        let host = headers.get(header::HOST).and_then(|value| value.to_str().ok());
        if let Some(hosts) = &self.hosts {
            if !host.is_some_and(|host| hosts.permits(host)) {
                return Some("this server does not answer to this Host (see --allowed-hosts and --public-url)");
            }
        }
        let fetch_site = headers.get("sec-fetch-site");
        // A form POST from a page with `Referrer-Policy: no-referrer` (ours) carries
        // `Origin: null`; the browser's own `Sec-Fetch-Site`, which no page can set, says
        // whether it came from this origin.
        let null_but_same_origin = headers.get(header::ORIGIN).is_some_and(|origin| origin == "null")
            && fetch_site.is_some_and(|site| site == "same-origin");
        if let Some(origin) = headers.get(header::ORIGIN).filter(|_| !null_but_same_origin) {
            let origin = origin.to_str().ok().and_then(Origin::parse);
            let own = origin.as_ref().zip(host).is_some_and(|(origin, host)| origin.is_host(host));
            let listed = origin.as_ref().is_some_and(|origin| self.allowed.contains(origin));
            if !own && !listed {
                return Some("requests from this origin are not allowed (see --allowed-origins)");
            }
        } else if !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
            && fetch_site.is_some_and(|site| site == "cross-site")
        {
            return Some("cross-site writes are not allowed");
        }
        None
    }
}

/// The layer that applies `OriginPolicy` to every request.
pub async fn check_origin(State(policy): State<Arc<OriginPolicy>>, request: Request, next: Next) -> Response {
    if let Some(reason) = policy.refusal(request.method(), request.headers()) {
        let headers = request.headers();
        let shown =
            |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned();
        let allowed: Vec<String> = policy.allowed.iter().map(Origin::to_string).collect();
        tracing::warn!(
            origin = shown(header::ORIGIN),
            host = shown(header::HOST),
            ?allowed,
            path = request.uri().path(),
            "refused: {reason}"
        );
        policy.errors.error("origin", "forbidden");
        return ApiError::Forbidden(reason.to_owned()).into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use proptest::prelude::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs.iter().map(|(name, value)| (name.parse().unwrap(), HeaderValue::from_str(value).unwrap())).collect()
    }

    fn policy(hosts_checked: bool, allowed: &[&str]) -> OriginPolicy {
        let allowed = allowed.iter().map(|o| Origin::parse(o).unwrap()).collect();
        let hosts = hosts_checked.then(|| HostAllowlist { names: vec!["dash.example.com".into()] });
        OriginPolicy { hosts, allowed, errors: Arc::new(crate::server::telemetry::Telemetry::new()) }
    }

    #[test]
    fn hosts_answered_to_are_loopback_addresses_and_the_listed_names() {
        let hosts = HostAllowlist { names: vec!["dash.example.com".into()] };
        for host in
            ["localhost:3000", "127.0.0.1", "[::1]:80", "dash.example.com", "DASH.example.com:8443", "10.1.2.3:3000"]
        {
            assert!(hosts.permits(host), "{host}");
        }
        for host in ["evil.example", "dash.example.com.evil.example", "", "a b"] {
            assert!(!hosts.permits(host), "{host}");
        }
        assert_eq!(parse_host_name(" Dash.Example.com:443 ").unwrap(), "dash.example.com");
        assert!(parse_host_name("https://x/").is_err());
    }

    #[test]
    fn origins_and_hosts_are_normalized() {
        assert_eq!(Origin::parse("HTTP://LocalHost:3000"), Origin::parse("http://LOCALHOST:3000"));
        assert_eq!(Origin::parse("https://dash.example.com"), Origin::parse("https://dash.example.com:443"));
        assert_eq!(Origin::parse("http://[::1]:3000").unwrap().to_string(), "http://[::1]:3000");
        for bad in
            ["null", "", "file://", "http://", "http://a b", "ftp://x", "http://x:99999", "http://u@x", "http://x/path"]
        {
            assert_eq!(Origin::parse(bad), None, "{bad}");
        }
        for host in ["localhost", "localhost:3000", "127.0.0.1:3000", "127.9.9.9", "[::1]:3000", "app.localhost:80"] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in
            ["evil.example", "127.0.0.1.evil.example", "localhost.evil.example:3000", "[::2]:3000", "10.0.0.1", ""]
        {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn only_the_own_or_a_listed_origin_passes() {
        let policy = policy(true, &["https://dash.example.com"]);
        let get = Method::GET;
        let post = Method::POST;
        let own = headers(&[("host", "127.0.0.1:3000"), ("origin", "http://127.0.0.1:3000")]);
        assert_eq!(policy.refusal(&post, &own), None);
        assert_eq!(policy.refusal(&post, &headers(&[("host", "127.0.0.1:3000")])), None, "no Origin: curl, agents");
        let listed = headers(&[("host", "localhost:3000"), ("origin", "https://dash.example.com")]);
        assert_eq!(policy.refusal(&get, &listed), None);
        for origin in ["http://evil.example", "null", "http://127.0.0.1:3001", "http://127.0.0.1.evil.example:3000"] {
            let foreign = headers(&[("host", "127.0.0.1:3000"), ("origin", origin)]);
            assert!(policy.refusal(&get, &foreign).is_some(), "{origin}");
        }
        let rebound = headers(&[("host", "evil.example:3000"), ("origin", "http://evil.example:3000")]);
        assert!(policy.refusal(&get, &rebound).unwrap().contains("Host"), "DNS rebinding");
        let named = headers(&[("host", "dash.example.com"), ("origin", "https://dash.example.com")]);
        assert_eq!(policy.refusal(&post, &named), None, "the public name");
        let cross_site = headers(&[("host", "127.0.0.1:3000"), ("sec-fetch-site", "cross-site")]);
        assert!(policy.refusal(&post, &cross_site).is_some());
        assert_eq!(policy.refusal(&get, &cross_site), None, "a cross-site link to a page is fine");
        // Our own form POSTs (the sign-in form) under `Referrer-Policy: no-referrer`.
        let null_same_origin = [("host", "127.0.0.1:3000"), ("origin", "null"), ("sec-fetch-site", "same-origin")];
        assert_eq!(policy.refusal(&post, &headers(&null_same_origin)), None);
        for site in ["same-site", "cross-site", "none"] {
            let null = headers(&[("host", "127.0.0.1:3000"), ("origin", "null"), ("sec-fetch-site", site)]);
            assert!(policy.refusal(&post, &null).is_some(), "Origin null from {site}");
        }
        let open = self::policy(false, &[]);
        assert_eq!(open.refusal(&get, &headers(&[("host", "dash.internal:3000")])), None, "any Host off loopback");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

        /// Whatever the Origin and Host say, a request passes only when the origin is the
        /// listed one or names exactly the host it was sent to.
        #[test]
        fn never_grants_more_than_own_or_listed(origin in "[a-zA-Z:/.\\[\\]0-9-]{0,40}", host in "[a-zA-Z:.\\[\\]0-9-]{0,30}") {
            let policy = policy(false, &["https://dash.example.com"]);
            let Ok(origin_value) = HeaderValue::from_str(&origin) else { return Ok(()) };
            let Ok(host_value) = HeaderValue::from_str(&host) else { return Ok(()) };
            let mut map = HeaderMap::new();
            map.insert(header::ORIGIN, origin_value);
            map.insert(header::HOST, host_value);
            if policy.refusal(&Method::POST, &map).is_none() {
                let parsed = Origin::parse(&origin).expect("a passing origin parses");
                let listed = parsed == Origin::parse("https://dash.example.com").unwrap();
                let (name, port) = parse_host(&host).expect("a passing host parses");
                let own = name == parsed.host && port.unwrap_or(if parsed.scheme == "https" { 443 } else { 80 }) == parsed.port;
                prop_assert!(listed || own, "{origin} from {host}");
            }
        }
    }
}
