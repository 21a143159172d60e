//! The IP rules service: the trusted proxies from the config, and the rules
//! from the database behind a small cache. Each instance asks the database for
//! the rules' fingerprint at most once per `refresh` interval (2 s by
//! default) and reloads them only when it changed, so a rule added with
//! `gatehouse ip …` takes effect everywhere within that interval, without a
//! restart. Changes made through this service take effect here at once.
//!
//! If the database cannot be read, the rules last loaded stay in force.
//! Every change is audited (`ip_rule_changed`) in its own transaction.
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ipnet::IpNet;
use tokio::time::Instant;

use serde_json::json;

use super::audit::{self, AuditAction};
use super::client_ip;
use super::ip_denials::{Denials, Ended};
use super::ip_rules::{Action, Decision, Rule, RuleError, RuleSet, Scope, parse_net};
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
    /// Global denials waiting for their minute to end (see `ip_denials`).
    denials: Arc<Denials>,
}

impl IpPolicy {
    /// A service over `store`, trusting `trusted` proxies, re-checking the
    /// rules at most every `refresh`.
    pub fn new(store: Store, trusted: Vec<IpNet>, refresh: Duration) -> Self {
        Self { store, trusted: trusted.into(), refresh, cache: Arc::default(), denials: Arc::default() }
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

    /// Adds a rule; `cidr` is an address or CIDR range. Audited
    /// (`ip_rule_changed`, naming the rule as `id action cidr scope`) from
    /// `ctx` in the same transaction.
    pub async fn add(
        &self,
        ctx: &audit::Context,
        action: Action,
        cidr: &str,
        scope: &Scope,
        note: &str,
        now: i64,
    ) -> Result<Rule, Error> {
        let net = parse_net(cidr)?;
        let row = NewIpRule {
            action: action.as_str(),
            cidr: &net.to_string(),
            scope: scope.kind(),
            subject: scope.subject(),
            note,
            now,
        };
        let mut tx = self.store.begin().await?;
        let id = tx.db().insert_ip_rule(&row).await?;
        let rule = Rule { id, action, net, scope: scope.clone(), note: note.to_owned(), created_at: now };
        let target = format!("{} {} {} {}", rule.id, rule.action.as_str(), rule.net, rule.scope);
        let event = ctx.event(AuditAction::IpRuleChanged, target).with_detail(json!({ "change": action.as_str() }));
        audit::append(&mut tx.db(), &event, now).await?;
        tx.commit().await?;
        self.invalidate();
        Ok(rule)
    }

    /// [`IpPolicy::add`], refused ([`RuleError::LocksOut`]) when the rule
    /// would refuse the address `ctx` comes from in one of `keep` (the
    /// scopes that apply to whoever makes the change) where it passes now:
    /// an operator never shuts themself out. An unknown address is not
    /// guarded (the CLI, which no rule refuses, is the way back then).
    pub async fn add_keeping_access(
        &self,
        ctx: &audit::Context,
        rule: (Action, &str, &Scope, &str),
        keep: &[Scope],
        now: i64,
    ) -> Result<Rule, Error> {
        let (action, cidr, scope, note) = rule;
        let net = parse_net(cidr)?;
        let new = Rule { id: 0, action, net, scope: scope.clone(), note: String::new(), created_at: now };
        self.keeps_access(ctx, keep, |rules| rules.push(new)).await?;
        self.add(ctx, action, cidr, scope, note, now).await
    }

    /// [`IpPolicy::remove`], refused ([`RuleError::LocksOut`]) like
    /// [`IpPolicy::add_keeping_access`] when removing the rule would shut
    /// the caller out (their own allow entry, while other allows remain).
    pub async fn remove_keeping_access(
        &self,
        ctx: &audit::Context,
        id: i64,
        keep: &[Scope],
        now: i64,
    ) -> Result<bool, Error> {
        self.keeps_access(ctx, keep, |rules| rules.retain(|r| r.id != id)).await?;
        self.remove(ctx, id, now).await
    }

    /// Whether the change `edit` makes to today's rules still lets the
    /// address of `ctx` in for every scope of `keep` that lets it in now.
    /// The check reads the rules before the change's own transaction, so
    /// two operators changing rules at the same moment are not serialized.
    async fn keeps_access(
        &self,
        ctx: &audit::Context,
        keep: &[Scope],
        edit: impl FnOnce(&mut Vec<Rule>),
    ) -> Result<(), Error> {
        let Ok(ip) = ctx.ip.parse::<IpAddr>() else { return Ok(()) };
        let mut rules = self.list().await?;
        let before = RuleSet::new(rules.clone());
        edit(&mut rules);
        let after = RuleSet::new(rules);
        match keep.iter().find(|s| before.allows(s, Some(ip)) && !after.allows(s, Some(ip))) {
            Some(lost) => Err(RuleError::LocksOut { ip: ip.to_string(), scope: lost.to_string() }.into()),
            None => Ok(()),
        }
    }

    /// Up to `limit` rules with an id above `after`, oldest first.
    pub async fn page(&self, after: i64, limit: i64) -> Result<Vec<Rule>, Error> {
        let rows = self.store.conn().await?.db().ip_rules_after(after, limit).await?;
        Ok(rows.into_iter().map(to_rule).collect::<Result<Vec<_>, _>>()?)
    }

    /// Removes a rule (audited from `ctx` with it); false if there was none
    /// with that id.
    pub async fn remove(&self, ctx: &audit::Context, id: i64, now: i64) -> Result<bool, Error> {
        let mut tx = self.store.begin().await?;
        if !tx.db().delete_ip_rule(id).await? {
            return Ok(false);
        }
        let event = ctx.event(AuditAction::IpRuleChanged, id.to_string()).with_detail(json!({ "change": "remove" }));
        audit::append(&mut tx.db(), &event, now).await?;
        tx.commit().await?;
        self.invalidate();
        Ok(true)
    }

    /// Counts a global denial of the request `ctx` describes (address, user
    /// agent, request id); [`IpPolicy::flush_denials`] audits it once its
    /// minute has ended.
    pub fn note_global_denial(&self, ctx: &audit::Context, now: i64) {
        self.denials.note(&ctx.ip, &ctx.user_agent, &ctx.request_id, now);
    }

    /// Audits the global denials of minutes that ended by `now`: one
    /// `ip_denied` row per address-minute across every instance, with the
    /// count (see `security::ip_denials`). Cheap when nothing has ended. A
    /// failed write is logged and kept for the next flush.
    pub async fn flush_denials(&self, now: i64) {
        let ended = self.denials.take_ended(now);
        if ended.is_empty() {
            return;
        }
        if let Err(e) = self.write_denials(&ended, now).await {
            tracing::warn!(error = %e, "auditing ip denials failed; kept for the next try");
            self.denials.restore(ended);
        }
    }

    async fn write_denials(&self, ended: &[Ended], now: i64) -> Result<(), Error> {
        let mut tx = self.store.begin().await?;
        for e in ended {
            if !tx.db().claim_ip_denials(&e.ip, e.minute, e.count).await? {
                tracing::info!(ip = %e.ip, count = e.count, "ip denials of this minute already audited elsewhere");
                continue;
            }
            let ctx = audit::Context {
                actor: "anonymous".to_owned(),
                ip: e.ip.clone(),
                user_agent: e.user_agent.clone(),
                request_id: e.request_id.clone(),
                via: "",
            };
            let detail = json!({ "scope": "global", "minute_start": e.minute * 60, "count": e.count });
            audit::append(&mut tx.db(), &ctx.event(AuditAction::IpDenied, "").with_detail(detail), now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Which rule would apply to `ip` in each of `scopes` (global first,
    /// then a role or client an operator names) and whether it passes,
    /// against the rules in the database now.
    pub async fn test_address(&self, ip: IpAddr, scopes: &[Scope]) -> Result<Vec<Decision>, Error> {
        let rules = RuleSet::new(self.list().await?);
        Ok(scopes.iter().map(|s| rules.decide(s, ip)).collect())
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
