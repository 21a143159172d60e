//! `gatehouse health`: probes `/health/ready` of the server this
//! configuration describes, for container health checks (the slim image has
//! no curl). Prints one line; exit 0 when the server answers 200, 1 when it
//! answers anything else, does not answer within [`TIMEOUT`], or the
//! configuration has no fixed port to probe.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::bail;

use crate::config::Config;

/// How long the probe waits for the whole answer.
pub const TIMEOUT: Duration = Duration::from_secs(3);

/// The address to probe for a server listening on `listen`: the same one,
/// except that a wildcard (`0.0.0.0`, `::`) is reached on loopback.
pub fn probe_address(listen: SocketAddr) -> anyhow::Result<SocketAddr> {
    if listen.port() == 0 {
        bail!("listen address {listen} has port 0 (a random port); set GATEHOUSE_LISTEN to the server's address");
    }
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    Ok(SocketAddr::new(ip, listen.port()))
}

/// Runs the probe; `Ok` only when `/health/ready` answered 200.
pub async fn run(config: &Config) -> anyhow::Result<()> {
    let url = format!("http://{}/health/ready", probe_address(config.listen)?);
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot build the HTTP client: {e}"))?;
    match client.get(&url).send().await {
        Ok(res) if res.status() == reqwest::StatusCode::OK => {
            println!("ready: {url}");
            Ok(())
        }
        Ok(res) => bail!("not ready: {url} answered {}", res.status()),
        Err(e) if e.is_timeout() => bail!("not ready: {url} did not answer within {} s", TIMEOUT.as_secs()),
        Err(e) if e.is_connect() => bail!("not ready: cannot connect to {url}"),
        Err(_) => bail!("not ready: {url} failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_listen_address_is_probed_on_loopback() {
        let probe = |s: &str| probe_address(s.parse().unwrap()).unwrap().to_string();
        assert_eq!(probe("0.0.0.0:8080"), "127.0.0.1:8080");
        assert_eq!(probe("[::]:8080"), "[::1]:8080");
        assert_eq!(probe("192.0.2.7:443"), "192.0.2.7:443");
        assert_eq!(probe("[2001:db8::1]:8443"), "[2001:db8::1]:8443");
    }

    #[test]
    fn port_zero_has_nothing_to_probe() {
        let err = probe_address("127.0.0.1:0".parse().unwrap()).unwrap_err();
        assert!(err.to_string().contains("GATEHOUSE_LISTEN"), "{err}");
    }
}
