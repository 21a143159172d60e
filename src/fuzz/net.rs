//! Client addresses behind proxies (`Forwarded`, RFC 7239, and
//! `X-Forwarded-For`) and the address/network parser of trusted proxies and
//! IP rules.
use std::net::IpAddr;

use ipnet::IpNet;
use proptest::prelude::*;

use super::{check, text};
use crate::config::parse_net;
use crate::security::client_ip;

/// An address as proxies write it, or junk.
fn node() -> BoxedStrategy<String> {
    prop_oneof![
        any::<IpAddr>().prop_map(|ip| ip.to_string()),
        (any::<IpAddr>(), any::<u16>()).prop_map(|(ip, p)| match ip {
            IpAddr::V4(v4) => format!("{v4}:{p}"),
            IpAddr::V6(v6) => format!("[{v6}]:{p}"),
        }),
        any::<std::net::Ipv6Addr>().prop_map(|v6| format!("[{v6}]")),
        Just("unknown".to_owned()),
        "_[a-z]{0,6}",
        text(),
    ]
    .boxed()
}

/// A `Forwarded` element: `for=` (quoted or not) among other parameters.
fn element() -> BoxedStrategy<String> {
    let for_pair = (node(), any::<bool>(), prop::sample::select(vec!["for", "For", "FOR"]))
        .prop_map(|(n, quote, name)| if quote { format!("{name}=\"{n}\"") } else { format!("{name}={n}") });
    let other = prop::sample::select(vec!["proto=https", "by=10.0.0.1", "host=\"a;b,c\"", "x=\"\\\"\"", ""]);
    let params =
        prop::collection::vec(prop_oneof![3 => for_pair, 1 => other.prop_map(str::to_owned), 1 => text()], 0..4);
    let sep = prop::sample::select(vec![";", "; ", " ;", ";;"]);
    (params, sep).prop_map(|(p, s)| p.join(s)).boxed()
}

fn list(item: BoxedStrategy<String>) -> BoxedStrategy<String> {
    let sep = prop::sample::select(vec![",", ", ", " , ", ",,"]);
    (prop::collection::vec(item, 0..5), sep).prop_map(|(items, s)| items.join(s)).boxed()
}

fn trusted() -> BoxedStrategy<Vec<IpNet>> {
    let nets = vec!["10.0.0.0/8", "127.0.0.1/32", "::1/128", "192.0.2.0/24", "2001:db8::/32", "0.0.0.0/0"];
    prop::collection::vec(prop::sample::select(nets), 0..3)
        .prop_map(|v| v.iter().filter_map(|n| n.parse().ok()).collect())
        .boxed()
}

#[test]
fn fuzz_forwarded() {
    check("forwarded", prop_oneof![list(element()), text()], |value| {
        if let Some(hops) = client_ip::parse_forwarded(&value) {
            // One hop per element, and each element had its `for=`.
            prop_assert!(!hops.is_empty() && hops.len() <= value.matches(',').count() + 1);
            prop_assert!(value.to_ascii_lowercase().matches("for").count() >= hops.len());
        }
        Ok(())
    });
}

#[test]
fn fuzz_x_forwarded_for() {
    check("x_forwarded_for", prop_oneof![list(node()), text()], |value| {
        if let Some(hops) = client_ip::parse_x_forwarded_for(&value) {
            prop_assert_eq!(hops.len(), value.split(',').count(), "one hop per entry");
            prop_assert!(hops.iter().all(Option::is_some), "X-Forwarded-For has no unknown nodes");
        }
        Ok(())
    });
}

#[test]
fn fuzz_client_ip() {
    let headers = prop::collection::vec(prop_oneof![list(element()), text()], 0..3);
    let xff = prop::collection::vec(prop_oneof![list(node()), text()], 0..3);
    check("client_ip", (any::<IpAddr>(), headers, xff, trusted()), |(peer, fwd, xff, trusted)| {
        let fwd_refs: Vec<&str> = fwd.iter().map(String::as_str).collect();
        let xff_refs: Vec<&str> = xff.iter().map(String::as_str).collect();
        let client = client_ip::resolve(peer, &fwd_refs, &xff_refs, &trusted);
        // The client is the peer, or an address one of the headers named.
        let named: Vec<IpAddr> = if !fwd.is_empty() {
            client_ip::parse_forwarded(&fwd.join(",")).unwrap_or_default().into_iter().flatten().collect()
        } else {
            client_ip::parse_x_forwarded_for(&xff.join(",")).unwrap_or_default().into_iter().flatten().collect()
        };
        let peer = peer.to_canonical();
        prop_assert!(client == peer || named.iter().any(|ip| ip.to_canonical() == client), "{client} from nowhere");
        // An untrusted peer is the client whatever the headers say.
        if !trusted.iter().any(|n| n.contains(&peer)) {
            prop_assert_eq!(client, peer);
        }
        Ok(())
    });
}

#[test]
fn fuzz_ip_network() {
    let raw = prop_oneof![
        (any::<IpAddr>(), 0u8..140).prop_map(|(ip, len)| format!("{ip}/{len}")),
        any::<IpAddr>().prop_map(|ip| format!(" {ip} ")),
        text(),
    ];
    check("ip_network", raw, |raw| {
        if let Ok(net) = parse_net(&raw) {
            // Host bits are cleared, and the network parses back to itself.
            prop_assert_eq!(net, net.trunc());
            prop_assert_eq!(parse_net(&net.to_string()).ok(), Some(net));
        }
        Ok(())
    });
}
