//! The client's address behind trusted proxies: from `Forwarded: for=` (RFC 7239) or, without
//! it, `X-Forwarded-For`, only when the peer itself is a trusted proxy.
//!
//! Each proxy appends the address it got the request from, so the chain reads client first,
//! nearest proxy last; only the hops appended by trusted proxies can be believed. The client is
//! thus the rightmost hop that is not itself a trusted proxy: anything left of it the client
//! may have written. A chain that cannot be read (a hop that is no address, such as `unknown`
//! or an obfuscated name) is not guessed at: the peer stands.

use std::net::{IpAddr, SocketAddr};

use axum::http::{header, HeaderMap};

use crate::domain::network::Cidr;

static X_FORWARDED_FOR: header::HeaderName = header::HeaderName::from_static("x-forwarded-for");

/// The client's address of a request that came from `peer` with `headers`.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let chain = if headers.contains_key(header::FORWARDED) {
        forwarded(headers)
    } else {
        x_forwarded_for(headers)
    };
    let Some(chain) = chain.filter(|c| !c.is_empty()) else {
        return peer;
    };
    chain
        .iter()
        .rev()
        .copied()
        .find(|hop| !is_trusted(*hop))
        // Every hop a trusted proxy: the farthest one is the client.
        .unwrap_or(chain[0])
}

/// The values of every line of a header, in order, split at commas.
fn items<'a>(headers: &'a HeaderMap, name: &header::HeaderName) -> Option<Vec<&'a str>> {
    let mut items = Vec::new();
    for value in headers.get_all(name) {
        items.extend(value.to_str().ok()?.split(',').map(str::trim));
    }
    Some(items)
}

/// The `for=` of each element of `Forwarded`; `None` when one lacks it or is not an address.
fn forwarded(headers: &HeaderMap) -> Option<Vec<IpAddr>> {
    items(headers, &header::FORWARDED)?
        .into_iter()
        .map(|element| {
            let node = element.split(';').find_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("for")
                    .then_some(value.trim())
            })?;
            let unquoted = node
                .strip_prefix('"')
                .and_then(|n| n.strip_suffix('"'))
                .unwrap_or(node);
            hop(unquoted)
        })
        .collect()
}

fn x_forwarded_for(headers: &HeaderMap) -> Option<Vec<IpAddr>> {
    items(headers, &X_FORWARDED_FOR)?
        .into_iter()
        .map(hop)
        .collect()
}

/// One hop: an address, with or without a port (`192.0.2.1:80`, `[2001:db8::1]:80`), or an
/// IPv6 address in brackets.
fn hop(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    let address = text
        .parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            text.strip_prefix('[')?
                .strip_suffix(']')?
                .parse::<IpAddr>()
                .ok()
        })?;
    Some(address.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(
                header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        h
    }

    fn nets(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|n| Cidr::parse(n).unwrap()).collect()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_says() {
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(client_address(ip("10.0.0.1"), &h, &[]), ip("10.0.0.1"));
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_address(ip("192.0.2.1"), &h, &trusted),
            ip("192.0.2.1")
        );
    }

    #[test]
    fn the_rightmost_hop_that_is_no_trusted_proxy_is_the_client() {
        let trusted = nets(&["10.0.0.0/8", "2001:db8::/32"]);
        let peer = ip("10.0.0.2");
        // The client wrote the first hop itself: it is not believed.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9, 10.0.0.7")]);
        assert_eq!(client_address(peer, &h, &trusted), ip("203.0.113.9"));
        let h = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-for", "203.0.113.9:5555"),
        ]);
        assert_eq!(client_address(peer, &h, &trusted), ip("203.0.113.9"));
        let h = headers(&[(
            "forwarded",
            "for=1.2.3.4, for=\"[2001:db9::1]:4711\";proto=https, for=\"[2001:db8::5]\"",
        )]);
        assert_eq!(client_address(peer, &h, &trusted), ip("2001:db9::1"));
        // Forwarded wins over X-Forwarded-For.
        let h = headers(&[
            ("forwarded", "for=198.51.100.4"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(client_address(peer, &h, &trusted), ip("198.51.100.4"));
        // Only proxies: the farthest.
        let h = headers(&[("x-forwarded-for", "10.1.1.1, 10.2.2.2")]);
        assert_eq!(client_address(peer, &h, &trusted), ip("10.1.1.1"));
        // A peer on a dual-stack socket.
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(
            client_address(ip("::ffff:10.0.0.2"), &h, &trusted),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn a_chain_that_cannot_be_read_leaves_the_peer() {
        let trusted = nets(&["10.0.0.0/8"]);
        let peer = ip("10.0.0.2");
        for (name, value) in [
            ("x-forwarded-for", "203.0.113.9, unknown"),
            ("x-forwarded-for", "not an address"),
            ("x-forwarded-for", ""),
            ("forwarded", "for=unknown"),
            ("forwarded", "for=_hidden, for=203.0.113.9"),
            ("forwarded", "proto=https"),
            ("forwarded", "for=\"[2001:db8::1\""),
        ] {
            let h = headers(&[(name, value)]);
            assert_eq!(client_address(peer, &h, &trusted), peer, "{name}: {value}");
        }
        assert_eq!(client_address(peer, &HeaderMap::new(), &trusted), peer);
    }
}
