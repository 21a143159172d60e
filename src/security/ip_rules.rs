//! IP allow and deny rules, as pure data: parsing of addresses and CIDR
//! ranges (IPv4 and IPv6) and the decision for an address.
//!
//! Rules have a scope: global (every request), a client (`client_id`, at
//! `/authorize` and `/token`) or a role (sign-in and every signed-in request
//! of a user holding it). Within one scope:
//!
//! ```text
//!   address matches a deny rule ─────────────────────────> refused
//!   scope has allow rules and the address matches none ──> refused
//!   otherwise ───────────────────────────────────────────> allowed
//! ```
//!
//! A request must pass every scope that applies to it (for a user, each of
//! their roles).
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

/// What a rule does to the addresses it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Allow,
    Deny,
}

impl Action {
    /// The stored and printed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
        }
    }
}

impl FromStr for Action {
    type Err = RuleError;
    fn from_str(s: &str) -> Result<Self, RuleError> {
        match s {
            "allow" => Ok(Action::Allow),
            "deny" => Ok(Action::Deny),
            other => Err(RuleError::Corrupt(format!("action {other:?}"))),
        }
    }
}

/// Where a rule applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Global,
    Client(String),
    Role(String),
}

impl Scope {
    /// The stored kind (`global`, `client`, `role`).
    pub fn kind(&self) -> &'static str {
        match self {
            Scope::Global => "global",
            Scope::Client(_) => "client",
            Scope::Role(_) => "role",
        }
    }

    /// The client id or role ("" for global).
    pub fn subject(&self) -> &str {
        match self {
            Scope::Global => "",
            Scope::Client(s) | Scope::Role(s) => s,
        }
    }

    /// The scope an operator asks for (`gatehouse ip … --client/--role`,
    /// the JSON API): a client, a role (one of `roles`), or global when
    /// neither is given. Not both.
    pub fn from_input(client: Option<&str>, role: Option<&str>, roles: &[&str]) -> Result<Self, RuleError> {
        match (client.map(str::trim), role.map(str::trim)) {
            (Some(_), Some(_)) => Err(RuleError::BadScope("a rule is for a client or for a role, not both".into())),
            (Some(""), None) => Err(RuleError::BadScope("--client needs a client_id".into())),
            (None, Some("")) => Err(RuleError::BadScope("--role needs a role name".into())),
            (Some(c), None) => Ok(Scope::Client(c.to_owned())),
            (None, Some(r)) if !roles.contains(&r) => {
                Err(RuleError::BadScope(format!("unknown role {r:?}; use one of: {}", roles.join(", "))))
            }
            (None, Some(r)) => Ok(Scope::Role(r.to_owned())),
            (None, None) => Ok(Scope::Global),
        }
    }

    /// Rebuilds a scope from its stored kind and subject.
    pub fn from_parts(kind: &str, subject: &str) -> Result<Self, RuleError> {
        match kind {
            "global" => Ok(Scope::Global),
            "client" => Ok(Scope::Client(subject.to_owned())),
            "role" => Ok(Scope::Role(subject.to_owned())),
            other => Err(RuleError::Corrupt(format!("scope {other:?}"))),
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Global => f.write_str("global"),
            Scope::Client(c) => write!(f, "client {c}"),
            Scope::Role(r) => write!(f, "role {r}"),
        }
    }
}

/// Errors of rule input and stored rules.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// Not an address or CIDR range.
    #[error("{0:?} is not an IP address or CIDR range (e.g. 192.0.2.0/24 or 2001:db8::/32)")]
    BadNet(String),
    /// A scope that names no client or role it could apply to.
    #[error("{0}")]
    BadScope(String),
    /// The rule would refuse the address the change comes from, in a scope
    /// that applies to the one making it: there must always be a way back in.
    #[error("this rule would refuse your own address {ip} ({scope}); add it from another address or with the CLI")]
    LocksOut { ip: String, scope: String },
    /// A stored rule could not be read back.
    #[error("corrupt ip rule: {0}")]
    Corrupt(String),
}

/// Parses `192.0.2.1`, `192.0.2.0/24`, `2001:db8::1` or `2001:db8::/32`. A
/// bare address is a one-address range; host bits are cleared
/// (`192.0.2.7/24` is `192.0.2.0/24`), and IPv4-mapped IPv6 becomes IPv4.
pub fn parse_net(s: &str) -> Result<IpNet, RuleError> {
    crate::config::parse_net(s).map_err(|e| RuleError::BadNet(e.0))
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub id: i64,
    pub action: Action,
    pub net: IpNet,
    pub scope: Scope,
    pub note: String,
    pub created_at: i64,
}

/// What the rules of one scope say about an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub scope: Scope,
    pub allowed: bool,
    /// The rule that decided; `None` when no rule matched (then the address
    /// is refused only because the scope has an allow list).
    pub rule: Option<Rule>,
}

/// Every rule, indexed for the checks.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

impl RuleSet {
    /// A set of rules.
    pub fn new(rules: Vec<Rule>) -> Self {
        Self { rules }
    }

    /// Whether there are no rules at all (the common case: nothing to check).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules, in id order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Whether `ip` passes the rules of `scope`. An unknown address (`None`)
    /// matches nothing: it passes deny rules but fails an allow list.
    pub fn allows(&self, scope: &Scope, ip: Option<IpAddr>) -> bool {
        let ip = ip.map(|i| i.to_canonical());
        let matches = |r: &Rule| ip.is_some_and(|ip| r.net.contains(&ip));
        let mut has_allow = false;
        let mut allowed = false;
        for rule in self.rules.iter().filter(|r| &r.scope == scope) {
            match rule.action {
                Action::Deny if matches(rule) => return false,
                Action::Deny => {}
                Action::Allow => {
                    has_allow = true;
                    allowed |= matches(rule);
                }
            }
        }
        !has_allow || allowed
    }

    /// Which rule of `scope` decides for `ip`, and whether it passes: the
    /// first matching deny rule, else the first matching allow rule, else no
    /// rule (refused only when the scope has an allow list). Agrees with
    /// [`RuleSet::allows`].
    pub fn decide(&self, scope: &Scope, ip: IpAddr) -> Decision {
        let ip = ip.to_canonical();
        let in_scope = || self.rules.iter().filter(move |r| &r.scope == scope);
        if let Some(deny) = in_scope().find(|r| r.action == Action::Deny && r.net.contains(&ip)) {
            return Decision { scope: scope.clone(), allowed: false, rule: Some(deny.clone()) };
        }
        if let Some(allow) = in_scope().find(|r| r.action == Action::Allow && r.net.contains(&ip)) {
            return Decision { scope: scope.clone(), allowed: true, rule: Some(allow.clone()) };
        }
        let allow_list = in_scope().any(|r| r.action == Action::Allow);
        Decision { scope: scope.clone(), allowed: !allow_list, rule: None }
    }

    /// The first of `roles` whose rules refuse `ip`, if any.
    pub fn refusing_role<'a>(&self, roles: &'a [String], ip: Option<IpAddr>) -> Option<&'a str> {
        if self.is_empty() {
            return None;
        }
        roles.iter().find(|role| !self.allows(&Scope::Role((*role).clone()), ip)).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(action: Action, net: &str, scope: Scope) -> Rule {
        Rule { id: 0, action, net: parse_net(net).unwrap(), scope, note: String::new(), created_at: 0 }
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn parses_ipv4_and_ipv6_addresses_and_ranges() {
        assert_eq!(parse_net("192.0.2.1").unwrap().to_string(), "192.0.2.1/32");
        assert_eq!(parse_net("192.0.2.77/24").unwrap().to_string(), "192.0.2.0/24");
        assert_eq!(parse_net("2001:db8::1").unwrap().to_string(), "2001:db8::1/128");
        assert_eq!(parse_net("2001:db8:abcd::1/48").unwrap().to_string(), "2001:db8:abcd::/48");
        assert_eq!(parse_net("::ffff:192.0.2.1").unwrap().to_string(), "192.0.2.1/32");
        assert_eq!(parse_net("::/0").unwrap().to_string(), "::/0");
        for bad in ["", "192.0.2.0/33", "2001:db8::/129", "10.0.0", "example.com", "10.0.0.0/8/8", "fe80::1%eth0"] {
            assert!(matches!(parse_net(bad), Err(RuleError::BadNet(_))), "{bad:?}");
        }
    }

    #[test]
    fn an_operator_names_a_client_a_known_role_or_nothing() {
        let roles = ["admin", "user"];
        assert_eq!(Scope::from_input(None, None, &roles).unwrap(), Scope::Global);
        assert_eq!(Scope::from_input(Some("web"), None, &roles).unwrap(), Scope::Client("web".into()));
        assert_eq!(Scope::from_input(None, Some("admin"), &roles).unwrap(), Scope::Role("admin".into()));
        for (client, role) in
            [(Some("web"), Some("admin")), (Some(" "), None), (None, Some("")), (None, Some("wizard"))]
        {
            assert!(
                matches!(Scope::from_input(client, role, &roles), Err(RuleError::BadScope(_))),
                "{client:?} {role:?}"
            );
        }
    }

    #[test]
    fn a_decision_names_the_rule_that_applies() {
        let admins = Scope::Role("admin".into());
        let mut allow = rule(Action::Allow, "10.0.0.0/8", admins.clone());
        allow.id = 1;
        let mut deny = rule(Action::Deny, "10.6.6.0/24", admins.clone());
        deny.id = 2;
        let mut global = rule(Action::Deny, "203.0.113.0/24", Scope::Global);
        global.id = 3;
        let set = RuleSet::new(vec![allow, deny, global]);
        let d = set.decide(&admins, "10.6.6.6".parse().unwrap());
        assert!(!d.allowed);
        assert_eq!(d.rule.map(|r| r.id), Some(2), "deny beats allow");
        let d = set.decide(&admins, "10.1.1.1".parse().unwrap());
        assert!(d.allowed);
        assert_eq!(d.rule.map(|r| r.id), Some(1));
        let d = set.decide(&admins, "192.0.2.1".parse().unwrap());
        assert!(!d.allowed && d.rule.is_none(), "not on the allow list");
        let d = set.decide(&Scope::Global, "192.0.2.1".parse().unwrap());
        assert!(d.allowed && d.rule.is_none(), "no rule, no allow list");
        let d = set.decide(&Scope::Global, "::ffff:203.0.113.9".parse().unwrap());
        assert_eq!((d.allowed, d.rule.map(|r| r.id)), (false, Some(3)));
        for (scope, addr) in [(&admins, "10.6.6.6"), (&admins, "10.1.1.1"), (&Scope::Global, "203.0.113.1")] {
            let a: IpAddr = addr.parse().unwrap();
            assert_eq!(set.decide(scope, a).allowed, set.allows(scope, Some(a)), "{addr}");
        }
    }

    #[test]
    fn ipv6_ranges_match_by_prefix() {
        let set = RuleSet::new(vec![rule(Action::Deny, "2001:db8:bad::/48", Scope::Global)]);
        assert!(!set.allows(&Scope::Global, ip("2001:db8:bad:1::5")));
        assert!(set.allows(&Scope::Global, ip("2001:db8:bae::5")));
        assert!(set.allows(&Scope::Global, ip("192.0.2.1")), "IPv4 never matches an IPv6 range");
    }

    #[test]
    fn ipv4_mapped_addresses_match_ipv4_rules() {
        let set = RuleSet::new(vec![rule(Action::Deny, "192.0.2.0/24", Scope::Global)]);
        assert!(!set.allows(&Scope::Global, ip("::ffff:192.0.2.9")));
    }

    #[test]
    fn deny_wins_and_an_allow_list_refuses_everything_else() {
        let office = Scope::Role("admin".into());
        let set = RuleSet::new(vec![
            rule(Action::Allow, "10.0.0.0/8", office.clone()),
            rule(Action::Deny, "10.6.6.0/24", office.clone()),
            rule(Action::Deny, "203.0.113.0/24", Scope::Global),
        ]);
        assert!(set.allows(&office, ip("10.1.2.3")));
        assert!(!set.allows(&office, ip("10.6.6.6")), "deny beats allow");
        assert!(!set.allows(&office, ip("192.0.2.1")), "not on the allow list");
        assert!(!set.allows(&office, None), "an unknown address is on no allow list");
        assert!(set.allows(&Scope::Global, ip("192.0.2.1")), "global has no allow list");
        assert!(!set.allows(&Scope::Global, ip("203.0.113.5")));
        assert!(set.allows(&Scope::Client("web".into()), ip("203.0.113.5")), "scopes are separate");
        let roles = vec!["user".to_owned(), "admin".to_owned()];
        assert_eq!(set.refusing_role(&roles, ip("192.0.2.1")), Some("admin"));
        assert_eq!(set.refusing_role(&roles, ip("10.0.0.1")), None);
    }
}
