//! Which address a request comes from. The TCP peer is the client unless it is
//! a configured trusted proxy; then the proxy's `Forwarded` (RFC 7239) or,
//! failing that, `X-Forwarded-For` header names the hops, and the list is
//! walked from the right (the hop nearest to us) past every trusted proxy. The
//! first address that is not a trusted proxy is the client.
//!
//! A malformed header is ignored (the peer is the client): a proxy we trust
//! writes well-formed headers, so anything else did not come from it.
use std::net::IpAddr;

use ipnet::IpNet;

/// The client's address, given the TCP `peer`, the `Forwarded` and
/// `X-Forwarded-For` header lines (each possibly repeated), and the trusted
/// proxy ranges.
pub fn resolve(peer: IpAddr, forwarded: &[&str], x_forwarded_for: &[&str], trusted: &[IpNet]) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    // RFC 7239 §7.1: several header lines are one comma-separated list.
    let hops = if !forwarded.is_empty() {
        parse_forwarded(&forwarded.join(","))
    } else if !x_forwarded_for.is_empty() {
        parse_x_forwarded_for(&x_forwarded_for.join(","))
    } else {
        None
    };
    let Some(hops) = hops else { return peer };
    let mut client = peer;
    for hop in hops.iter().rev() {
        // An unknown or obfuscated node (RFC 7239 §6.2, §6.3): the walk stops
        // at the last trusted hop, which is as far as we can see.
        let Some(ip) = hop else { break };
        client = canonical(*ip);
        if !is_trusted(&client) {
            break;
        }
    }
    client
}

/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) as plain IPv4, so rules
/// written for IPv4 match dual-stack listeners too.
pub fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// The `for=` node of each element of a `Forwarded` value, left to right:
/// `Some(ip)`, or `None` for `unknown` and obfuscated identifiers. `None`
/// overall when the value is malformed or an element has no `for=`.
pub fn parse_forwarded(value: &str) -> Option<Vec<Option<IpAddr>>> {
    let mut hops = Vec::new();
    for element in split_outside_quotes(value, ',')? {
        let mut node = None;
        for pair in split_outside_quotes(element, ';')? {
            let pair = pair.trim();
            if pair.is_empty() {
                continue;
            }
            let (name, raw) = pair.split_once('=')?;
            if name.trim().eq_ignore_ascii_case("for") {
                if node.is_some() {
                    return None; // RFC 7239 §4: each parameter at most once per element
                }
                node = Some(parse_node(&unquote(raw.trim())?)?);
            }
        }
        hops.push(node?);
    }
    (!hops.is_empty()).then_some(hops)
}

/// The addresses of an `X-Forwarded-For` value, left to right. `None` when any
/// entry is not an address (with an optional port).
pub fn parse_x_forwarded_for(value: &str) -> Option<Vec<Option<IpAddr>>> {
    let hops: Option<Vec<_>> = value.split(',').map(|entry| address_with_port(entry.trim()).map(Some)).collect();
    hops.filter(|h| !h.is_empty())
}

/// A node (RFC 7239 §6): an address, `[v6]`, either with `:port`; `unknown`
/// and `_obfuscated` names are valid nodes without an address.
fn parse_node(node: &str) -> Option<Option<IpAddr>> {
    if node.eq_ignore_ascii_case("unknown") || node.starts_with('_') {
        return Some(None);
    }
    address_with_port(node).map(Some)
}

/// `192.0.2.1`, `192.0.2.1:80`, `[2001:db8::1]`, `[2001:db8::1]:443`, or a
/// bare IPv6 address.
fn address_with_port(s: &str) -> Option<IpAddr> {
    if let Some(rest) = s.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(valid_port);
        return if port_ok { inside.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6) } else { None };
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    let (host, port) = s.rsplit_once(':')?;
    if !valid_port(port) {
        return None;
    }
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

fn valid_port(p: &str) -> bool {
    // RFC 7239 §6: a port is digits, or an obfuscated `_name`.
    (!p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())) || p.starts_with('_')
}

/// Removes the quotes of an RFC 7230 quoted-string (with `\` escapes); a token
/// is returned as is. `None` for an unterminated string.
fn unquote(s: &str) -> Option<String> {
    let Some(inner) = s.strip_prefix('"') else {
        return (!s.contains('"')).then(|| s.to_owned());
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// Splits on `sep` outside quoted strings; `None` if a quote is left open.
fn split_outside_quotes(s: &str, sep: char) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    if quoted {
        return None;
    }
    parts.push(&s[start..]);
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn rfc7239_section_4_examples_parse() {
        // RFC 7239 §4 examples.
        assert_eq!(parse_forwarded("for=\"_gazonk\""), Some(vec![None]));
        assert_eq!(parse_forwarded("For=\"[2001:db8:cafe::17]:4711\""), Some(vec![Some(ip("2001:db8:cafe::17"))]));
        assert_eq!(parse_forwarded("for=192.0.2.60;proto=http;by=203.0.113.43"), Some(vec![Some(ip("192.0.2.60"))]));
        assert_eq!(
            parse_forwarded("for=192.0.2.43, for=198.51.100.17"),
            Some(vec![Some(ip("192.0.2.43")), Some(ip("198.51.100.17"))])
        );
        // RFC 7239 §6.2: "unknown".
        assert_eq!(parse_forwarded("for=unknown, for=192.0.2.1"), Some(vec![None, Some(ip("192.0.2.1"))]));
    }

    #[test]
    fn rfc7239_section_6_ipv6_must_be_bracketed_and_quoted() {
        assert_eq!(parse_forwarded("for=\"[2001:db8::1]:443\""), Some(vec![Some(ip("2001:db8::1"))]));
        assert_eq!(parse_forwarded("for=\"192.0.2.1:8080\""), Some(vec![Some(ip("192.0.2.1"))]));
        assert_eq!(parse_forwarded("for=\"[2001:db8::1]"), None, "unterminated quote");
        assert_eq!(parse_forwarded("for=[2001:db8::1]:x"), None, "bad port");
    }

    #[test]
    fn malformed_forwarded_values_are_refused() {
        for bad in ["", "for", "proto=https", "for=1.2.3.4;for=5.6.7.8", "for=not-an-ip", "for=\"a\"b\""] {
            assert_eq!(parse_forwarded(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn x_forwarded_for_lists_parse() {
        assert_eq!(
            parse_x_forwarded_for("203.0.113.7, 10.0.0.2"),
            Some(vec![Some(ip("203.0.113.7")), Some(ip("10.0.0.2"))])
        );
        assert_eq!(parse_x_forwarded_for("2001:db8::2, [2001:db8::3]:80").map(|v| v.len()), Some(2));
        assert_eq!(parse_x_forwarded_for("203.0.113.7, junk"), None);
        assert_eq!(parse_x_forwarded_for(""), None);
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let client = resolve(ip("198.51.100.9"), &["for=192.0.2.1"], &["192.0.2.1"], &nets(&["10.0.0.0/8"]));
        assert_eq!(client, ip("198.51.100.9"));
    }

    #[test]
    fn the_walk_skips_trusted_proxies_from_the_right() {
        let trusted = nets(&["10.0.0.0/8", "::1/128"]);
        // A client spoofs a first entry; our proxies appended the real one.
        let xff = ["6.6.6.6, 203.0.113.7, 10.0.0.2"];
        assert_eq!(resolve(ip("10.0.0.1"), &[], &xff, &trusted), ip("203.0.113.7"));
        let fwd = ["for=6.6.6.6, for=\"[2001:db8::7]:1234\"", "for=10.0.0.3"];
        assert_eq!(resolve(ip("::1"), &fwd, &xff, &trusted), ip("2001:db8::7"), "Forwarded wins over XFF");
        // Every hop trusted: the leftmost is as far as we can see.
        assert_eq!(resolve(ip("10.0.0.1"), &[], &["10.9.9.9"], &trusted), ip("10.9.9.9"));
        // An unknown node stops the walk at the last trusted hop.
        assert_eq!(resolve(ip("10.0.0.1"), &["for=unknown, for=10.0.0.5"], &[], &trusted), ip("10.0.0.5"));
    }

    #[test]
    fn malformed_headers_fall_back_to_the_peer() {
        let trusted = nets(&["127.0.0.1/32"]);
        assert_eq!(resolve(ip("127.0.0.1"), &["for=\"oops"], &[], &trusted), ip("127.0.0.1"));
        assert_eq!(resolve(ip("127.0.0.1"), &[], &["1.2.3.4, garbage"], &trusted), ip("127.0.0.1"));
        assert_eq!(resolve(ip("127.0.0.1"), &[], &[], &trusted), ip("127.0.0.1"));
    }

    #[test]
    fn ipv4_mapped_peers_are_treated_as_ipv4() {
        let trusted = nets(&["127.0.0.0/8"]);
        assert_eq!(resolve(ip("::ffff:127.0.0.1"), &[], &["192.0.2.5"], &trusted), ip("192.0.2.5"));
        assert_eq!(resolve(ip("::ffff:192.0.2.9"), &[], &[], &trusted), ip("192.0.2.9"));
    }
}
