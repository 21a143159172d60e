//! New-device notices. A browser carries a long-lived random device cookie;
//! an address is reduced to its network (IPv4 /24, IPv6 /48). A sign-in from
//! a device cookie *and* a network that this user has never signed in from
//! mails a notice with a "this wasn't me" link. The first sign-in of an
//! account is not news, so it only records where it came from. Both values
//! are stored hashed.
use std::net::IpAddr;

use super::recovery::{Purpose, greeting_name};
use super::{Accounts, Result};
use crate::mail::Mail;
use crate::security::token;
use crate::store::UserRow;

/// Kept here for the pages and the CLI that show times.
pub use super::wording::format_time;

/// Where a sign-in came from.
#[derive(Debug, Clone, Copy)]
pub struct SignInOrigin<'a> {
    pub ip: Option<IpAddr>,
    pub user_agent: &'a str,
    /// The device cookie's value (a new one when the browser had none).
    pub device: &'a str,
}

/// The network an address belongs to, as text.
pub fn network_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => network_of(IpAddr::V4(v4)),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
            }
        },
    }
}

/// "Firefox on Linux": enough to recognise a device, no fingerprint.
pub fn coarse_agent(ua: &str) -> String {
    let browsers = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ];
    let systems = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ];
    let browser = browsers.iter().find(|(needle, _)| ua.contains(needle)).map(|(_, name)| *name);
    let system = systems.iter().find(|(needle, _)| ua.contains(needle)).map(|(_, name)| *name);
    match (browser, system) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(s)) => s.to_owned(),
        (None, None) => "Unknown device".to_owned(),
    }
}

impl Accounts {
    /// Records a successful sign-in's device and network, and queues a notice
    /// when both are new for a user who has signed in before.
    pub async fn note_sign_in(&self, user: &UserRow, origin: SignInOrigin<'_>) -> Result<()> {
        let now = self.now();
        let device = token::hash_secret(origin.device);
        let network = origin.ip.map(|ip| token::hash_secret(&network_of(ip)));
        let mut tx = self.store.begin().await?;
        let known_before = tx.db().has_known(&user.id).await?;
        let device_seen = tx.db().touch_known(&user.id, "device", &device, now).await?;
        let network_seen = match &network {
            Some(n) => tx.db().touch_known(&user.id, "network", n, now).await?,
            None => true,
        };
        let notify = known_before && !device_seen && !network_seen;
        if notify {
            let not_me = self.new_link(&mut tx.db(), &user.id, Purpose::NotMe, "").await?;
            let mail = Mail::NewSignIn {
                name: greeting_name(user),
                when: format_time(now),
                ip: origin.ip.map(|ip| ip.to_string()).unwrap_or_else(|| "unknown".into()),
                device: coarse_agent(origin.user_agent),
                not_me,
            };
            self.outbox.enqueue(&mut tx.db(), &user.email, &mail).await?;
        }
        tx.commit().await?;
        if notify {
            self.outbox.kick();
            tracing::info!(user_id = %user.id, "sign-in from a new device and network; notice queued");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_ipv4_slash_24_and_ipv6_slash_48() {
        assert_eq!(network_of("203.0.113.77".parse().unwrap()), "203.0.113.0/24");
        assert_eq!(network_of("2001:db8:abcd:12::1".parse().unwrap()), "2001:db8:abcd::/48");
        assert_eq!(network_of("::ffff:198.51.100.9".parse().unwrap()), "198.51.100.0/24");
    }

    #[test]
    fn user_agents_are_reduced_to_browser_and_system() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(coarse_agent(firefox), "Firefox on Linux");
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 Edg/120.0";
        assert_eq!(coarse_agent(edge), "Edge on Windows");
        assert_eq!(coarse_agent("curl/8.0"), "curl");
        assert_eq!(coarse_agent("Wget/1.21"), "Unknown device");
    }
}
