//! The blacklist: customers and networks the shop refuses to serve, each with a reason and
//! an optional expiry.
//!
//! ```text
//! NewBlock (admin API) ─► validate ─► Block ─► store ─► Blocklist::refresh
//! shopper request ─► Blocklist::refuses(verified customer id, client address, now)
//! ```
//!
//! A customer block matches the shop's *verified* customer id only: anyone can claim an id,
//! so a claimed one proves nothing and must not let a stranger get someone else refused.
//! Networks are single addresses or CIDR ranges (`203.0.113.0/24`, `2001:db8::/32`); an
//! IPv4 address reaching an IPv6 socket (`::ffff:a.b.c.d`) matches its IPv4 range.
//!
//! Each node serves from its own copy of the live blocks: refreshed at once after a change
//! made through it, and every [`REFRESH`] from the store, which is how a change made on
//! another node arrives.

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// How often a node reads the live blocks again.
pub const REFRESH: Duration = Duration::from_secs(5);

/// Longest reason kept.
const MAX_REASON_CHARS: usize = 500;

/// Longest customer id accepted (ids in signed identities are shorter).
const MAX_CUSTOMER_ID_CHARS: usize = 128;

/// Who or what is blocked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockTarget {
    /// A verified customer id.
    Customer(String),
    Network(IpNet),
}

impl BlockTarget {
    pub fn kind(&self) -> &'static str {
        match self {
            BlockTarget::Customer(_) => "customer",
            BlockTarget::Network(_) => "network",
        }
    }

    /// The stored value: the id, or the range in CIDR form.
    pub fn value(&self) -> String {
        match self {
            BlockTarget::Customer(id) => id.clone(),
            BlockTarget::Network(net) => net.to_string(),
        }
    }

    /// From the stored kind and value.
    pub fn parse(kind: &str, value: &str) -> Option<BlockTarget> {
        match kind {
            "customer" => Some(BlockTarget::Customer(value.to_string())),
            "network" => parse_network(value).ok().map(BlockTarget::Network),
            _ => None,
        }
    }
}

/// One entry of the blacklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Block {
    pub id: String,
    /// `customer` or `network`.
    pub kind: String,
    /// The customer id, or the network in CIDR form.
    pub target: String,
    pub reason: String,
    pub created_by: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms; none: until lifted.
    pub expires_at: Option<i64>,
    pub lifted_at: Option<i64>,
    pub lifted_by: Option<String>,
    #[serde(skip)]
    #[schema(ignore)]
    pub parsed: Option<BlockTarget>,
}

impl Block {
    /// Whether the block refuses requests at `now`.
    pub fn is_live(&self, now: i64) -> bool {
        self.lifted_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }

    fn refuses(&self, customer: Option<&str>, ip: Option<IpAddr>) -> bool {
        match &self.parsed {
            Some(BlockTarget::Customer(id)) => customer == Some(id.as_str()),
            Some(BlockTarget::Network(net)) => ip.is_some_and(|ip| {
                net.contains(&ip) || to_ipv4(ip).is_some_and(|v4| net.contains(&IpAddr::V4(v4)))
            }),
            None => false,
        }
    }
}

fn to_ipv4(ip: IpAddr) -> Option<std::net::Ipv4Addr> {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped(),
        IpAddr::V4(_) => None,
    }
}

/// A block as an admin asks for it: exactly one of `customer_id` and `network`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBlock {
    /// The shop's verified customer id.
    #[serde(default)]
    pub customer_id: Option<String>,
    /// An address (`203.0.113.7`) or a CIDR range (`203.0.113.0/24`, `2001:db8::/32`).
    #[serde(default)]
    pub network: Option<String>,
    /// Why: shown to other admins, never to the shopper. 1–500 characters.
    pub reason: String,
    /// How long the block lasts, in hours; absent: until lifted.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub hours: Option<u32>,
}

/// Why a block was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    #[error("{0}")]
    Invalid(String),
}

impl NewBlock {
    /// The block this asks for, made by `by` at `now`.
    pub fn into_block(self, by: &str, now: i64) -> Result<Block, BlockError> {
        let invalid = |m: &str| Err(BlockError::Invalid(m.to_string()));
        let target = match (self.customer_id, self.network) {
            (Some(id), None) => {
                let id = id.trim().to_string();
                if id.is_empty() || id.chars().count() > MAX_CUSTOMER_ID_CHARS {
                    return invalid("customer_id must be 1–128 characters");
                }
                BlockTarget::Customer(id)
            }
            (None, Some(net)) => BlockTarget::Network(parse_network(&net).map_err(|_| {
                BlockError::Invalid(format!(
                    "network {net:?} is neither an address nor a CIDR range (203.0.113.0/24)"
                ))
            })?),
            _ => return invalid("give exactly one of customer_id and network"),
        };
        let reason = self.reason.trim().to_string();
        if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
            return invalid("reason must be 1–500 characters");
        }
        let expires_at = match self.hours {
            Some(0) => return invalid("hours must be at least 1 (leave it out for no expiry)"),
            Some(h) => Some(now.saturating_add(i64::from(h) * 3_600_000)),
            None => None,
        };
        Ok(Block {
            id: uuid::Uuid::now_v7().simple().to_string(),
            kind: target.kind().to_string(),
            target: target.value(),
            reason,
            created_by: by.to_string(),
            created_at: now,
            expires_at,
            lifted_at: None,
            lifted_by: None,
            parsed: Some(target),
        })
    }
}

/// An address or a CIDR range; an address with host bits set below its prefix is refused
/// rather than silently widened.
fn parse_network(text: &str) -> Result<IpNet, ()> {
    let text = text.trim();
    if let Ok(ip) = IpAddr::from_str(text) {
        return Ok(IpNet::from(ip));
    }
    let net = IpNet::from_str(text).map_err(drop)?;
    if net.trunc() != net {
        return Err(());
    }
    Ok(net)
}

/// This node's copy of the live blocks ([`crate::service`] keeps it fresh from the store).
#[derive(Default)]
pub struct Blocklist {
    live: ArcSwap<Vec<Block>>,
}

impl Blocklist {
    /// Whether a request from `customer` (a verified id) at `ip` is refused at `now`.
    pub fn refuses(&self, customer: Option<&str>, ip: Option<IpAddr>, now: i64) -> bool {
        let live = self.live.load();
        !live.is_empty()
            && live
                .iter()
                .any(|b| b.is_live(now) && b.refuses(customer, ip))
    }

    /// Replaces the copy with `live`, the blocks the store says refuse now.
    pub fn replace(&self, live: Vec<Block>) {
        self.live.store(Arc::new(live));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(customer: Option<&str>, network: Option<&str>, hours: Option<u32>) -> Block {
        NewBlock {
            customer_id: customer.map(str::to_string),
            network: network.map(str::to_string),
            reason: "abuse".into(),
            hours,
        }
        .into_block("admin", 1_000)
        .unwrap()
    }

    fn list(blocks: Vec<Block>) -> Blocklist {
        let l = Blocklist::default();
        l.replace(blocks);
        l
    }

    #[test]
    fn customers_and_networks_are_refused_until_they_expire() {
        let l = list(vec![
            block(Some("c-1"), None, None),
            block(None, Some("203.0.113.0/24"), Some(1)),
            block(None, Some("2001:db8::/32"), None),
        ]);
        let ip = |s: &str| Some(IpAddr::from_str(s).unwrap());
        assert!(l.refuses(Some("c-1"), None, 2_000));
        assert!(!l.refuses(Some("c-2"), None, 2_000));
        assert!(l.refuses(None, ip("203.0.113.9"), 2_000));
        assert!(
            l.refuses(None, ip("::ffff:203.0.113.9"), 2_000),
            "mapped v4"
        );
        assert!(!l.refuses(None, ip("203.0.114.9"), 2_000));
        assert!(l.refuses(None, ip("2001:db8::1"), 2_000));
        assert!(
            !l.refuses(None, ip("203.0.113.9"), 1_000 + 3_600_000),
            "expired after an hour"
        );
    }

    #[test]
    fn a_lifted_block_refuses_nothing() {
        let mut b = block(Some("c-1"), None, None);
        b.lifted_at = Some(1_500);
        assert!(!list(vec![b]).refuses(Some("c-1"), None, 2_000));
    }

    #[test]
    fn bad_requests_are_named() {
        let new = |c: Option<&str>, n: Option<&str>, reason: &str, hours| NewBlock {
            customer_id: c.map(str::to_string),
            network: n.map(str::to_string),
            reason: reason.into(),
            hours,
        };
        let err = |b: NewBlock| b.into_block("admin", 0).unwrap_err().to_string();
        assert!(err(new(None, None, "x", None)).contains("exactly one"));
        assert!(err(new(Some("c"), Some("1.2.3.4"), "x", None)).contains("exactly one"));
        assert!(err(new(None, Some("1.2.3.4/33"), "x", None)).contains("neither"));
        assert!(err(new(None, Some("10.0.0.1/8"), "x", None)).contains("neither"));
        assert!(err(new(Some("c"), None, "  ", None)).contains("reason"));
        assert!(err(new(Some("c"), None, "x", Some(0))).contains("hours"));
        let single = new(None, Some(" 203.0.113.7 "), "x", None)
            .into_block("admin", 0)
            .unwrap();
        assert_eq!(
            (single.kind.as_str(), single.target.as_str()),
            ("network", "203.0.113.7/32")
        );
    }
}
