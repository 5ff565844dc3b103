//! Rate limits that keep one client from hurting others: one address flooding the bot with
//! conversations or messages, one conversation flooding the agents with escalations, tickets
//! or typing notices, one tab opening sockets in a loop, or one address guessing agent
//! tokens (each wrong guess costs an argon2 hash of 19 MiB).
//!
//! How data flows: a handler asks [`Limits::check_ip`] first, before reading the body's
//! meaning or touching the store, with the address from [`client_ip`] (the TCP peer, or
//! the left-most `X-Forwarded-For` entry when `limits.trust_forwarded_for` is set). Once
//! the shopper's token is checked it asks [`Limits::check_conversation`]: keyed by an
//! authorised conversation, so a stranger who knows a conversation's id cannot spend its
//! budget. A refusal is [`ApiError::RateLimited`] — `429 rate_limited` with `Retry-After`
//! set to the seconds until the limiter will let the next request through.
//!
//! Token failures are counted after the fact: the agent and admin APIs report each 401 to
//! [`Limits::token_refused`]; an address past `limits.ip_auth_failures` is locked out until
//! the limiter has room again, and [`Limits::check_token_attempt`] answers 429 for it before
//! anything is hashed.
//!
//! A shopper message is charged by the work it makes ([`message_cost`]: one unit per 100
//! characters the bot reads), so long messages spend the message budgets faster.
//!
//! The counters are governor's keyed GCRA limiters (one small state per key). Keys are
//! shed by [`Limits::run_pruning`], a task the server owns, once their state is no
//! different from a fresh one; between two runs, memory grows at most with the distinct
//! addresses and conversations seen.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap};
use dashmap::DashMap;
use governor::clock::Clock as _;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio_util::sync::CancellationToken;

use super::error::ApiError;
use crate::config::{LimitsConfig, Rate};

/// How often idle limiter keys are shed.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// What a client address does, each with its own budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpKind {
    Conversations,
    Messages,
    Handoffs,
    Tickets,
}

/// What happens in one conversation, each with its own budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversationKind {
    Messages,
    Handoffs,
    Tickets,
    Typing,
}

impl IpKind {
    fn what(self) -> &'static str {
        match self {
            IpKind::Conversations => "new conversations",
            IpKind::Messages => "messages",
            IpKind::Handoffs => "requests for a person",
            IpKind::Tickets => "messages left for the team",
        }
    }
}

impl ConversationKind {
    fn what(self) -> &'static str {
        match self {
            ConversationKind::Messages => "messages",
            ConversationKind::Handoffs => "requests for a person",
            ConversationKind::Tickets => "messages left for the team",
            ConversationKind::Typing => "typing notices",
        }
    }
}

/// One keyed limiter and its burst, or none when its rate is off.
struct Keyed<K: std::hash::Hash + Eq + Clone>(Option<(DefaultKeyedRateLimiter<K>, NonZeroU32)>);

impl<K: std::hash::Hash + Eq + Clone> Keyed<K> {
    fn new(rate: Rate) -> Self {
        Keyed(NonZeroU32::new(rate.per_minute).map(|per_minute| {
            // Validation refuses a zero burst with a rate; one is the least that works.
            let burst = NonZeroU32::new(rate.burst).unwrap_or(NonZeroU32::MIN);
            let quota = Quota::per_minute(per_minute).allow_burst(burst);
            (RateLimiter::dashmap(quota), burst)
        }))
    }

    /// `Ok` when `key` may go ahead (and is charged for it), else how long until it may.
    fn check(&self, key: &K) -> Result<(), Duration> {
        self.check_n(key, 1)
    }

    /// Like [`Keyed::check`], charging `cells` at once (at most the burst, so that a
    /// charge can always be met by waiting).
    fn check_n(&self, key: &K, cells: u32) -> Result<(), Duration> {
        let Some((limiter, burst)) = &self.0 else {
            return Ok(());
        };
        let cells = NonZeroU32::new(cells)
            .unwrap_or(NonZeroU32::MIN)
            .min(*burst);
        match limiter.check_key_n(key, cells) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(not_until.wait_time_from(limiter.clock().now())),
            // Cannot happen with `cells` capped at the burst; refuse for a second if it does.
            Err(_) => Err(Duration::from_secs(1)),
        }
    }

    fn prune(&self) {
        if let Some((limiter, _)) = &self.0 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |(l, _)| l.len())
    }
}

/// Characters of a message the bot reads per unit charged to the message budgets.
pub const CHARS_PER_CHARGE: usize = 100;

/// What a message of `chars` characters costs against the message budgets, when the bot
/// reads at most `max_read` of them (`nlu.max_chars`): one unit per started
/// [`CHARS_PER_CHARGE`] characters read, at least one. The budgets bound the bot's work,
/// and a long message is several short ones' worth of it (most of all the sentence
/// encoder's); counted per request, a client sending long messages at the permitted rate
/// would take the encoder from everyone else.
pub fn message_cost(chars: usize, max_read: usize) -> u32 {
    let read = chars.min(max_read);
    u32::try_from(read.div_ceil(CHARS_PER_CHARGE).max(1)).unwrap_or(u32::MAX)
}

/// The `Retry-After` of a wait: whole seconds, rounded up, at least one.
fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

fn refused(message: String, wait: Duration) -> ApiError {
    ApiError::RateLimited {
        message,
        retry_after_secs: retry_after_secs(wait),
    }
}

/// Every rate limit of one server. Cheap to share behind an `Arc`.
pub struct Limits {
    trust_forwarded_for: bool,
    ip_conversations: Keyed<IpAddr>,
    ip_messages: Keyed<IpAddr>,
    ip_handoffs: Keyed<IpAddr>,
    ip_tickets: Keyed<IpAddr>,
    auth_failures: Keyed<IpAddr>,
    /// Addresses past their token failures, until when: a cache of the limiter's answer,
    /// so a locked-out address is refused without being charged or hashed.
    locked_out: DashMap<IpAddr, Instant>,
    conversation_messages: Keyed<String>,
    conversation_handoffs: Keyed<String>,
    conversation_tickets: Keyed<String>,
    conversation_typing: Keyed<String>,
    max_sockets: u32,
    sockets: Arc<DashMap<String, u32>>,
}

impl Limits {
    pub fn new(config: &LimitsConfig) -> Limits {
        Limits {
            trust_forwarded_for: config.trust_forwarded_for,
            ip_conversations: Keyed::new(config.ip_conversations),
            ip_messages: Keyed::new(config.ip_messages),
            ip_handoffs: Keyed::new(config.ip_handoffs),
            ip_tickets: Keyed::new(config.ip_tickets),
            auth_failures: Keyed::new(config.ip_auth_failures),
            locked_out: DashMap::new(),
            conversation_messages: Keyed::new(config.conversation_messages),
            conversation_handoffs: Keyed::new(config.conversation_handoffs),
            conversation_tickets: Keyed::new(config.conversation_tickets),
            conversation_typing: Keyed::new(config.conversation_typing),
            max_sockets: config.sockets_per_conversation,
            sockets: Arc::default(),
        }
    }

    /// Whether the client address is read from `X-Forwarded-For`.
    pub fn trust_forwarded_for(&self) -> bool {
        self.trust_forwarded_for
    }

    /// Charges one `kind` to the client address, or refuses it.
    pub fn check_ip(&self, kind: IpKind, ip: IpAddr) -> Result<(), ApiError> {
        self.charge_ip(kind, ip, 1)
    }

    /// Charges `cost` units of `kind` to the client address (see [`message_cost`]), or
    /// refuses it.
    pub fn charge_ip(&self, kind: IpKind, ip: IpAddr, cost: u32) -> Result<(), ApiError> {
        let limiter = match kind {
            IpKind::Conversations => &self.ip_conversations,
            IpKind::Messages => &self.ip_messages,
            IpKind::Handoffs => &self.ip_handoffs,
            IpKind::Tickets => &self.ip_tickets,
        };
        limiter.check_n(&ip, cost).map_err(|wait| {
            refused(
                format!("too many {} from your address; retry later", kind.what()),
                wait,
            )
        })
    }

    /// Charges one `kind` to an authorised conversation, or refuses it.
    pub fn check_conversation(&self, kind: ConversationKind, id: &str) -> Result<(), ApiError> {
        self.charge_conversation(kind, id, 1)
    }

    /// Charges `cost` units of `kind` to an authorised conversation, or refuses it.
    pub fn charge_conversation(
        &self,
        kind: ConversationKind,
        id: &str,
        cost: u32,
    ) -> Result<(), ApiError> {
        let limiter = match kind {
            ConversationKind::Messages => &self.conversation_messages,
            ConversationKind::Handoffs => &self.conversation_handoffs,
            ConversationKind::Tickets => &self.conversation_tickets,
            ConversationKind::Typing => &self.conversation_typing,
        };
        limiter.check_n(&id.to_string(), cost).map_err(|wait| {
            refused(
                format!("too many {} in this conversation; retry later", kind.what()),
                wait,
            )
        })
    }

    /// Refuses an agent or admin request from an address locked out by its token failures,
    /// before its token is looked at.
    pub fn check_token_attempt(&self, ip: IpAddr) -> Result<(), ApiError> {
        let now = Instant::now();
        let Some(until) = self.locked_out.get(&ip).map(|u| *u) else {
            return Ok(());
        };
        if until <= now {
            self.locked_out.remove_if(&ip, |_, u| *u <= now);
            return Ok(());
        }
        Err(refused(
            "too many refused tokens from your address; retry later".into(),
            until - now,
        ))
    }

    /// Counts a refused agent or admin token; past the limit the address is locked out
    /// until the limiter has room for another failure.
    pub fn token_refused(&self, ip: IpAddr) {
        if let Err(wait) = self.auth_failures.check(&ip) {
            tracing::warn!(%ip, wait_ms = wait.as_millis() as u64, "too many refused tokens; address locked out");
            self.locked_out.insert(ip, Instant::now() + wait);
        }
    }

    /// A place among the conversation's open shopper sockets, held until the guard drops;
    /// refused when all `limits.sockets_per_conversation` places are taken.
    pub fn open_socket(&self, id: &str) -> Result<SocketGuard, ApiError> {
        if self.max_sockets > 0 {
            let mut open = self.sockets.entry(id.to_string()).or_insert(0);
            if *open >= self.max_sockets {
                return Err(ApiError::RateLimited {
                    message: format!(
                        "this conversation already has {} open sockets; close one first",
                        self.max_sockets
                    ),
                    retry_after_secs: 1,
                });
            }
            *open += 1;
        }
        Ok(SocketGuard {
            sockets: (self.max_sockets > 0).then(|| self.sockets.clone()),
            id: id.to_string(),
        })
    }

    /// The limiters keyed by address.
    fn per_address(&self) -> [&Keyed<IpAddr>; 5] {
        [
            &self.ip_conversations,
            &self.ip_messages,
            &self.ip_handoffs,
            &self.ip_tickets,
            &self.auth_failures,
        ]
    }

    /// The limiters keyed by conversation.
    fn per_conversation(&self) -> [&Keyed<String>; 4] {
        [
            &self.conversation_messages,
            &self.conversation_handoffs,
            &self.conversation_tickets,
            &self.conversation_typing,
        ]
    }

    /// Sheds the keys whose state is no different from a fresh one, and expired lockouts.
    pub fn prune(&self) {
        self.per_address().iter().for_each(|l| l.prune());
        self.per_conversation().iter().for_each(|l| l.prune());
        let now = Instant::now();
        self.locked_out.retain(|_, until| *until > now);
        self.locked_out.shrink_to_fit();
        self.sockets.shrink_to_fit();
    }

    /// Keys held over all limiters (for tests and diagnostics).
    pub fn keys(&self) -> usize {
        self.per_address().iter().map(|l| l.len()).sum::<usize>()
            + self
                .per_conversation()
                .iter()
                .map(|l| l.len())
                .sum::<usize>()
            + self.locked_out.len()
    }

    /// Prunes every [`PRUNE_EVERY`] until `stop` is cancelled.
    pub async fn run_pruning(self: Arc<Self>, stop: CancellationToken) {
        let mut every = tokio::time::interval(PRUNE_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = every.tick() => self.prune(),
            }
        }
    }
}

/// One open shopper socket of a conversation; gives its place back when dropped.
pub struct SocketGuard {
    sockets: Option<Arc<DashMap<String, u32>>>,
    id: String,
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        if let Some(sockets) = &self.sockets {
            if let Some(mut open) = sockets.get_mut(&self.id) {
                *open = open.saturating_sub(1);
            }
            // The last socket gone: the conversation holds no entry any more.
            sockets.remove_if(&self.id, |_, open| *open == 0);
        }
    }
}

/// The client's address: the TCP peer, or with `trust_forwarded_for` the left-most valid
/// `X-Forwarded-For` entry (the peer when there is none). IPv6 addresses are cut to their
/// /64, since one client commonly holds a whole /64 and could otherwise pick a new address
/// (and a new budget) for every request.
pub fn client_ip(
    headers: &HeaderMap,
    extensions: &Extensions,
    trust_forwarded_for: bool,
) -> IpAddr {
    let forwarded = trust_forwarded_for
        .then(|| {
            headers
                .get("x-forwarded-for")?
                .to_str()
                .ok()?
                .split(',')
                .next()?
                .trim()
                .parse::<IpAddr>()
                .ok()
        })
        .flatten();
    let ip = forwarded.unwrap_or_else(|| {
        extensions
            .get::<ConnectInfo<SocketAddr>>()
            // Requests served without a peer (in-process calls) share one budget.
            .map_or(IpAddr::from([0, 0, 0, 0]), |ConnectInfo(peer)| peer.ip())
    });
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_costs_one_unit_per_hundred_characters_the_bot_reads() {
        assert_eq!(message_cost(0, 500), 1);
        assert_eq!(message_cost(1, 500), 1);
        assert_eq!(message_cost(100, 500), 1);
        assert_eq!(message_cost(101, 500), 2);
        assert_eq!(message_cost(500, 500), 5);
        assert_eq!(
            message_cost(20_000, 500),
            5,
            "what the bot does not read is free"
        );
    }

    #[test]
    fn a_charge_above_the_burst_is_charged_as_the_burst() {
        let keyed = Keyed::<u8>::new(Rate::new(1, 3));
        assert!(
            keyed.check_n(&1, 10).is_ok(),
            "the whole burst, not refused forever"
        );
        assert!(keyed.check_n(&1, 1).is_err());
        assert!(Keyed::<u8>::new(Rate::OFF).check_n(&1, 10).is_ok());
    }

    fn config() -> LimitsConfig {
        LimitsConfig {
            ip_messages: Rate::new(1, 2),
            conversation_typing: Rate::new(60, 1),
            ip_auth_failures: Rate::new(1, 2),
            conversation_handoffs: Rate::OFF,
            sockets_per_conversation: 2,
            ..LimitsConfig::default()
        }
    }

    #[test]
    fn a_key_over_its_burst_is_refused_with_the_wait_and_others_are_not() {
        let limits = Limits::new(&config());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(limits.check_ip(IpKind::Messages, a).is_ok());
        assert!(limits.check_ip(IpKind::Messages, a).is_ok());
        match limits.check_ip(IpKind::Messages, a) {
            Err(ApiError::RateLimited {
                retry_after_secs, ..
            }) => {
                // One message a minute: the next token is most of a minute away.
                assert!((55..=60).contains(&retry_after_secs), "{retry_after_secs}");
            }
            other => panic!("expected rate_limited, got {other:?}"),
        }
        assert!(
            limits.check_ip(IpKind::Messages, b).is_ok(),
            "another address"
        );
        assert!(
            limits.check_ip(IpKind::Conversations, a).is_ok(),
            "another kind"
        );
        assert!(
            limits
                .check_conversation(ConversationKind::Typing, "c1")
                .is_ok()
        );
        assert!(
            limits
                .check_conversation(ConversationKind::Typing, "c1")
                .is_err()
        );
        assert!(
            limits
                .check_conversation(ConversationKind::Typing, "c2")
                .is_ok()
        );
        for _ in 0..100 {
            assert!(
                limits
                    .check_conversation(ConversationKind::Handoffs, "c1")
                    .is_ok(),
                "a rate of 0 is off"
            );
        }
    }

    #[test]
    fn token_failures_lock_an_address_out_until_the_limiter_has_room() {
        let limits = Limits::new(&config());
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        for _ in 0..2 {
            limits.token_refused(ip);
            assert!(limits.check_token_attempt(ip).is_ok(), "within the burst");
        }
        limits.token_refused(ip);
        let Err(ApiError::RateLimited {
            retry_after_secs, ..
        }) = limits.check_token_attempt(ip)
        else {
            panic!("locked out");
        };
        assert!((55..=60).contains(&retry_after_secs), "{retry_after_secs}");
        assert!(
            limits
                .check_token_attempt("192.0.2.8".parse().unwrap())
                .is_ok()
        );
    }

    #[test]
    fn sockets_are_capped_per_conversation_and_places_come_back() {
        let limits = Limits::new(&config());
        let first = limits.open_socket("c1").unwrap();
        let _second = limits.open_socket("c1").unwrap();
        assert!(limits.open_socket("c1").is_err());
        assert!(limits.open_socket("c2").is_ok(), "another conversation");
        drop(first);
        let _third = limits.open_socket("c1").unwrap();
        drop(_third);
        drop(_second);
        assert!(
            limits.sockets.is_empty(),
            "no entry for a conversation without sockets"
        );
    }

    #[test]
    fn pruning_sheds_keys_that_hold_nothing() {
        let limits = Limits::new(&LimitsConfig {
            // Refills at once (1 ms): any key is back to a fresh state almost immediately.
            ip_conversations: Rate::new(60_000, 1),
            ..LimitsConfig::default()
        });
        for i in 0..50u8 {
            limits
                .check_ip(IpKind::Conversations, IpAddr::from([10, 0, 0, i]))
                .unwrap();
        }
        assert_eq!(limits.keys(), 50);
        std::thread::sleep(Duration::from_millis(20));
        limits.prune();
        assert_eq!(limits.keys(), 0);
    }

    #[test]
    fn the_client_is_the_peer_unless_forwarding_is_trusted() {
        let mut ext = Extensions::new();
        ext.insert(ConnectInfo(SocketAddr::from(([203, 0, 113, 9], 4000))));
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "198.51.100.1, 10.0.0.1".parse().unwrap());
        assert_eq!(client_ip(&h, &ext, false), IpAddr::from([203, 0, 113, 9]));
        assert_eq!(client_ip(&h, &ext, true), IpAddr::from([198, 51, 100, 1]));
        h.insert("x-forwarded-for", "not-an-address".parse().unwrap());
        assert_eq!(client_ip(&h, &ext, true), IpAddr::from([203, 0, 113, 9]));
        h.insert("x-forwarded-for", "2001:db8:1:2:3:4:5:6".parse().unwrap());
        assert_eq!(
            client_ip(&h, &ext, true),
            "2001:db8:1:2::".parse::<IpAddr>().unwrap(),
            "one /64 is one client"
        );
        assert_eq!(
            client_ip(&HeaderMap::new(), &Extensions::new(), true),
            IpAddr::from([0, 0, 0, 0])
        );
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
        assert_eq!(retry_after_secs(Duration::from_secs(6)), 6);
    }
}
