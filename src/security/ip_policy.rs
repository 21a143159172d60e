//! The IP rules service: the trusted proxies from the config, and the rules
//! from the database behind a small cache. Each instance asks the database for
//! the rules' fingerprint at most once per `refresh` interval (2 s by
//! default) and reloads them only when it changed, so a rule added with
//! `gatehouse ip …` takes effect everywhere within that interval, without a
//! restart. Changes made through this service take effect here at once.
//!
//! If the database cannot be read, the rules last loaded stay in force.
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ipnet::IpNet;
use tokio::time::Instant;

use super::client_ip;
use super::ip_rules::{Action, Rule, RuleError, RuleSet, Scope, parse_net};
use crate::store::{self, IpRuleRow, NewIpRule, Store};

/// Errors of the IP rules service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error(transparent)]
    Store(#[from] store::Error),
}

#[derive(Debug, Default)]
struct Cache {
    rules: Arc<RuleSet>,
    version: Option<(i64, i64)>,
    checked_at: Option<Instant>,
}

/// Trusted proxies and IP rules; cheap to clone (shared cache).
#[derive(Clone, Debug)]
pub struct IpPolicy {
    store: Store,
    trusted: Arc<[IpNet]>,
    refresh: Duration,
    cache: Arc<RwLock<Cache>>,
}

impl IpPolicy {
    /// A service over `store`, trusting `trusted` proxies, re-checking the
    /// rules at most every `refresh`.
    pub fn new(store: Store, trusted: Vec<IpNet>, refresh: Duration) -> Self {
        Self { store, trusted: trusted.into(), refresh, cache: Arc::default() }
    }

    /// The client's address: see [`client_ip::resolve`].
    pub fn client_ip(&self, peer: IpAddr, forwarded: &[&str], x_forwarded_for: &[&str]) -> IpAddr {
        client_ip::resolve(peer, forwarded, x_forwarded_for, &self.trusted)
    }

    /// The rules in force, reloaded if the interval passed and they changed.
    pub async fn rules(&self) -> Arc<RuleSet> {
        let now = Instant::now();
        if let Ok(cache) = self.cache.read()
            && cache.checked_at.is_some_and(|at| now.duration_since(at) < self.refresh)
        {
            return cache.rules.clone();
        }
        let stale = {
            let Ok(mut cache) = self.cache.write() else { return Arc::default() };
            let stale = cache.checked_at.is_none_or(|at| now.duration_since(at) >= self.refresh);
            if stale {
                // Claim this check, so concurrent requests keep the cached rules.
                cache.checked_at = Some(now);
            }
            if !stale {
                return cache.rules.clone();
            }
            cache.version
        };
        match self.reload(stale).await {
            Ok(Some((version, rules))) => {
                let rules = Arc::new(rules);
                if let Ok(mut cache) = self.cache.write() {
                    cache.version = Some(version);
                    cache.rules = rules.clone();
                }
                rules
            }
            Ok(None) => self.cached(),
            Err(e) => {
                tracing::warn!(error = %e, "ip rules could not be reloaded; the previous ones stay in force");
                self.cached()
            }
        }
    }

    fn cached(&self) -> Arc<RuleSet> {
        self.cache.read().map(|c| c.rules.clone()).unwrap_or_default()
    }

    /// The new version and rules, or `None` when `known` is still current.
    async fn reload(&self, known: Option<(i64, i64)>) -> Result<Option<((i64, i64), RuleSet)>, Error> {
        let mut conn = self.store.conn().await?;
        let version = conn.db().ip_rules_version().await?;
        if known == Some(version) {
            return Ok(None);
        }
        let rows = conn.db().list_ip_rules().await?;
        let rules = rows.into_iter().map(to_rule).collect::<Result<Vec<_>, _>>()?;
        Ok(Some((version, RuleSet::new(rules))))
    }

    /// Forgets the cache, so the next check reloads.
    fn invalidate(&self) {
        if let Ok(mut cache) = self.cache.write() {
            cache.checked_at = None;
        }
    }

    /// Adds a rule; `cidr` is an address or CIDR range.
    pub async fn add(&self, action: Action, cidr: &str, scope: &Scope, note: &str, now: i64) -> Result<Rule, Error> {
        let net = parse_net(cidr)?;
        let row = NewIpRule {
            action: action.as_str(),
            cidr: &net.to_string(),
            scope: scope.kind(),
            subject: scope.subject(),
            note,
            now,
        };
        let id = self.store.conn().await?.db().insert_ip_rule(&row).await?;
        self.invalidate();
        Ok(Rule { id, action, net, scope: scope.clone(), note: note.to_owned(), created_at: now })
    }

    /// Removes a rule; false if there was none with that id.
    pub async fn remove(&self, id: i64) -> Result<bool, Error> {
        let removed = self.store.conn().await?.db().delete_ip_rule(id).await?;
        self.invalidate();
        Ok(removed)
    }

    /// Every rule, straight from the database.
    pub async fn list(&self) -> Result<Vec<Rule>, Error> {
        let rows = self.store.conn().await?.db().list_ip_rules().await?;
        Ok(rows.into_iter().map(to_rule).collect::<Result<Vec<_>, _>>()?)
    }
}

fn to_rule(row: IpRuleRow) -> Result<Rule, RuleError> {
    Ok(Rule {
        id: row.id,
        action: row.action.parse()?,
        net: row.cidr.parse().map_err(|_| RuleError::Corrupt(format!("cidr {:?}", row.cidr)))?,
        scope: Scope::from_parts(&row.scope, &row.subject)?,
        note: row.note,
        created_at: row.created_at,
    })
}
