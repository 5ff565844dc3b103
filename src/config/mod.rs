//! Configuration: compiled-in defaults < a TOML file < `BATON_*` environment variables <
//! command-line flags.
//!
//! Every layer is merged by [`figment`] into one [`Config`]; every struct denies unknown
//! fields, so a typo in the file or in an environment variable is an error at start-up, not a
//! silently ignored setting. Nested keys use `__` in the environment:
//! `BATON_POLICY__ANSWER_THRESHOLD=0.6` sets `[policy] answer_threshold`.

mod hours;
mod shop;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

pub use hours::{BusinessHours, DaySchedule, HoursError, OpenSpan};
pub use shop::ShopConfig;

/// Everything Baton can be told. Field docs double as the README's reference table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub addr: SocketAddr,
    /// Directory for the SQLite database and cached models.
    pub data_dir: PathBuf,
    /// Directory of FAQ files (`**/*.md`).
    pub kb: PathBuf,
    /// Directory of intent files (`*.yaml`).
    pub intents: PathBuf,
    /// Directory of pre-trained models (optional encoders).
    pub models: PathBuf,
    pub http: HttpConfig,
    pub store: StoreConfig,
    pub nlu: NluConfig,
    pub policy: PolicyConfig,
    pub hours: BusinessHours,
    pub handoff: HandoffConfig,
    pub reload: ReloadConfig,
    pub retention: RetentionConfig,
    pub identity: IdentityConfig,
    pub limits: LimitsConfig,
    pub shop: ShopConfig,
    /// Bearer token of the admin API (`/v1/admin/…`); unset turns the admin API off. Set it
    /// in the environment (`BATON_ADMIN_TOKEN`) rather than in a file.
    pub admin_token: Option<String>,
    /// `postgres://user:password@host/db` keeps everything in PostgreSQL, so several nodes can
    /// serve one shop; unset, the embedded SQLite file (`store.sqlite_file`) is used. Set it
    /// in the environment (`BATON_DATABASE_URL`): it holds the database password.
    pub database_url: Option<Secret>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            kb: PathBuf::from("kb"),
            intents: PathBuf::from("intents"),
            models: PathBuf::from("models"),
            http: HttpConfig::default(),
            store: StoreConfig::default(),
            nlu: NluConfig::default(),
            policy: PolicyConfig::default(),
            hours: BusinessHours::default(),
            handoff: HandoffConfig::default(),
            reload: ReloadConfig::default(),
            retention: RetentionConfig::default(),
            identity: IdentityConfig::default(),
            limits: LimitsConfig::default(),
            shop: ShopConfig::default(),
            admin_token: None,
            database_url: None,
        }
    }
}

/// Limits at the HTTP edge.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Largest accepted request body, in bytes.
    pub body_limit_bytes: usize,
    /// Longest accepted shopper message, in characters.
    pub max_message_chars: usize,
    /// Requests taking longer than this are answered with 503.
    pub request_timeout_ms: u64,
    /// Largest page of messages one `GET …/messages` returns.
    pub max_page_size: u32,
    /// Origins (`https://shop.example`) whose pages may call the shopper API
    /// (`/v1/conversations…`, with CORS) and open a shopper WebSocket, besides Baton's own.
    /// Apps that send no `Origin` header are not affected.
    pub allowed_origins: Vec<String>,
    /// Read and write buffer of one WebSocket, in bytes: idle sockets cost about this much.
    pub ws_buffer_bytes: usize,
    /// A request's headers must have arrived this long after the server starts waiting for
    /// them (after the connection opens, or after the previous response on a kept-alive
    /// one); otherwise the connection is closed. Bounds silent and slow-header clients, and
    /// idle keep-alive connections.
    pub header_read_timeout_ms: u64,
    /// A connection (an upgraded WebSocket too) on which a read or write stays stuck this
    /// long without a byte moving either way is closed: a client that stops reading its
    /// response. Keep it above the 25 s WebSocket ping interval.
    pub idle_timeout_ms: u64,
    /// Largest request head (request line and headers), in bytes; larger ones get 431.
    pub max_header_bytes: usize,
    /// Agent token checks (argon2, 19 MiB each) running at once at most; 0 = one per CPU
    /// core. A few more wait briefly; the rest are answered 503 at once.
    pub max_token_checks: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            body_limit_bytes: 64 * 1024,
            max_message_chars: 2000,
            request_timeout_ms: 10_000,
            max_page_size: 200,
            allowed_origins: Vec::new(),
            ws_buffer_bytes: 1024,
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            max_header_bytes: 16 * 1024,
            max_token_checks: 0,
        }
    }
}

/// Durability settings of the embedded database.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// SQLite file; relative paths are inside `data_dir`.
    pub sqlite_file: PathBuf,
    /// `full` survives power loss (an fsync per commit); `normal` survives a process crash.
    pub synchronous: Synchronous,
    /// Connections in the pool.
    pub max_connections: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            sqlite_file: PathBuf::from("baton.db"),
            synchronous: Synchronous::Full,
            max_connections: 8,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    Full,
    Normal,
}

/// Training and understanding.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NluConfig {
    /// Training epochs of the n-gram intent classifier.
    pub epochs: usize,
    /// Width of the n-gram embedding.
    pub embedding_dim: usize,
    /// AdamW learning rate.
    pub learning_rate: f64,
    /// Seed for shuffling and initialisation (training is reproducible).
    pub seed: u64,
    /// FAQ candidates retrieved per turn.
    pub faq_candidates: usize,
    /// Where trained models are cached; default `<data_dir>/models`.
    pub cache_dir: Option<PathBuf>,
    /// The sentence encoder's directory under `models`; empty turns the encoder off. A
    /// missing directory runs Baton on the n-gram path alone (with a warning).
    pub encoder: String,
    /// The encoder for text with Chinese characters, under `models`; empty (or the same as
    /// `encoder`) lets `encoder` read everything. Missing: the same, with a warning.
    pub encoder_zh: String,
    /// Threads embedding shoppers' messages; 0 = one per CPU core.
    pub encoder_workers: usize,
    /// Messages waiting for the encoder at most; more are refused with 429.
    pub encoder_queue: usize,
    /// Messages embedded together in one forward pass at most.
    pub encoder_batch: usize,
    /// Recent distinct messages remembered in memory, so a repeated text is embedded once
    /// (each vector ~1.6 KB with a 384-wide encoder) and classified and searched for once per
    /// knowledge snapshot (each ~1 KB: the intent and the FAQ candidates); 0 keeps none.
    pub cached_messages: usize,
    /// Characters of a shopper message the bot reads at most: longer text is cut before
    /// normalisation, classification, retrieval and embedding, so one long message costs no
    /// more understanding work than this. The whole message is still stored and shown.
    pub max_chars: usize,
    /// When a message is understood without the encoder (`knowledge::gate`).
    pub encoder_gate: EncoderGate,
}

/// When the cheap models' understanding of a message stands without the sentence encoder;
/// the rule is `knowledge::gate`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EncoderGate {
    /// Whether the cheap models may answer without the encoder at all.
    pub enabled: bool,
    /// The n-gram intent's calibrated confidence at or above which it stands.
    pub intent_confidence: f32,
    /// The best lexical FAQ's overlap with the text (1.0: the text says exactly what one of
    /// the FAQ's phrasings says) at or above which it stands.
    pub faq_overlap: f32,
}

impl Default for EncoderGate {
    /// The points at which `baton eval intents` and `baton eval kb` measured no loss on the
    /// evaluation sets (README, "Where the encoder is skipped").
    fn default() -> Self {
        EncoderGate {
            enabled: true,
            intent_confidence: 0.99,
            faq_overlap: 0.95,
        }
    }
}

impl Default for NluConfig {
    fn default() -> Self {
        NluConfig {
            epochs: 30,
            embedding_dim: 64,
            learning_rate: 0.02,
            seed: 7,
            faq_candidates: 5,
            cache_dir: None,
            encoder: "all-MiniLM-L6-v2".into(),
            // Chinese reads best with the multilingual model, intents and FAQs alike (README,
            // "Chinese with multilingual-e5-small"); not installed, Chinese falls back to
            // `encoder` with one warning.
            encoder_zh: "multilingual-e5-small".into(),
            encoder_workers: 0,
            encoder_queue: 256,
            encoder_batch: 16,
            cached_messages: 16_384,
            max_chars: 500,
            encoder_gate: EncoderGate::default(),
        }
    }
}

/// The handoff rules of DESIGN.md, as numbers and word lists.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Intent confidence at or above which the bot acts on the intent.
    pub intent_threshold: f32,
    /// FAQ confidence at or above which the bot answers with the FAQ on its own.
    pub faq_threshold: f32,
    /// FAQ or intent confidence at or above which a candidate is offered as "did you mean".
    pub suggest_threshold: f32,
    /// Consecutive low-confidence turns that escalate (the earlier ones clarify).
    pub low_confidence_turns: u32,
    /// "Did you mean" suggestions offered at most.
    pub max_suggestions: usize,
    /// Extra phrases (after normalisation) that mean "give me a person", added to the built-in ones.
    pub human_phrases: Vec<String>,
    /// Extra strongly negative words that escalate with raised priority.
    pub negative_words: Vec<String>,
    /// Skill group for VIP customers' escalations; empty keeps the intent's group.
    pub vip_skill: Option<String>,
    /// Skill group when nothing more specific is known.
    pub default_skill: String,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            intent_threshold: 0.55,
            faq_threshold: 0.6,
            suggest_threshold: 0.3,
            low_confidence_turns: 2,
            max_suggestions: 3,
            human_phrases: Vec::new(),
            negative_words: Vec::new(),
            vip_skill: None,
            default_skill: "general".to_string(),
        }
    }
}

/// Hot reload of `kb/` and `intents/`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ReloadConfig {
    /// Watch the directories and reload after a change (`POST /v1/admin/kb/reload` works
    /// either way).
    pub watch: bool,
    /// How often the directories are checked for changes, in milliseconds; a change is
    /// loaded once it has held still for one more check.
    pub poll_ms: u64,
}

impl Default for ReloadConfig {
    fn default() -> Self {
        ReloadConfig {
            watch: true,
            poll_ms: 1000,
        }
    }
}

/// How long shoppers' personal data is kept.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Days after a conversation's last activity when its personal data is erased (texts
    /// replaced, customer details removed; the statistics keep counting it). Unset: kept
    /// until erased on request (`baton customer forget`).
    pub days: Option<u32>,
    /// How often the server looks for conversations past the retention period, in
    /// milliseconds.
    pub sweep_interval_ms: u64,
    /// Conversations erased per batch (each in its own transaction) before the next batch
    /// is read.
    pub batch_size: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            days: None,
            sweep_interval_ms: 3_600_000,
            batch_size: 100,
        }
    }
}

/// Routing, offers, presence and SLAs of the human side.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HandoffConfig {
    /// Seconds an agent has to accept an offered conversation before it goes to the next one.
    pub offer_timeout_secs: u64,
    /// Seconds in the queue after which a conversation is flagged and widened to its
    /// fallback group.
    pub sla_wait_secs: u64,
    /// Seconds an assigned conversation may wait for the agent's reply before it is flagged.
    pub sla_reply_secs: u64,
    /// Put a conversation back in the queue when its agent breaches the reply SLA.
    pub reassign_on_reply_breach: bool,
    /// Group that takes conversations waiting past `sla_wait_secs`.
    pub fallback_skill: String,
    /// Fallback groups of particular skill groups (default: `fallback_skill`).
    pub fallback: std::collections::BTreeMap<String, String>,
    /// Seconds an agent without a connection or heartbeat stays online before being marked
    /// offline and losing their conversations to the queue.
    pub presence_grace_secs: u64,
    /// Handle time assumed for wait estimates until resolved conversations give real ones.
    pub default_handle_secs: u64,
    /// How often timers (offers, SLAs, presence) are checked, in milliseconds.
    pub sweep_interval_ms: u64,
    /// Open tickets (messages left for the team) one conversation may have; more are
    /// refused until agents close some, so one shopper cannot flood every agent's list.
    pub max_open_tickets: u32,
    /// A verified customer who comes back within this many days is offered first to the
    /// agent who last helped them, when that agent is online with room (0: never).
    pub sticky_days: u32,
}

impl Default for HandoffConfig {
    fn default() -> Self {
        HandoffConfig {
            offer_timeout_secs: 30,
            sla_wait_secs: 180,
            sla_reply_secs: 300,
            reassign_on_reply_breach: false,
            fallback_skill: "general".into(),
            fallback: Default::default(),
            presence_grace_secs: 60,
            default_handle_secs: 300,
            sweep_interval_ms: 1000,
            max_open_tickets: 3,
            sticky_days: 7,
        }
    }
}

impl HandoffConfig {
    /// The group that takes over `skill`'s conversations when they wait too long.
    pub fn fallback_for(&self, skill: &str) -> &str {
        self.fallback
            .get(skill)
            .map(String::as_str)
            .unwrap_or(&self.fallback_skill)
    }
}

/// A rate limit: `per_minute` sustained, up to `burst` at once (a GCRA token bucket that
/// refills one token every `60 / per_minute` seconds). `per_minute = 0` turns it off.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub per_minute: u32,
    pub burst: u32,
}

impl Rate {
    pub const fn new(per_minute: u32, burst: u32) -> Rate {
        Rate { per_minute, burst }
    }

    /// No limit at all.
    pub const OFF: Rate = Rate::new(0, 0);
}

/// Limits that keep one client from hurting others: per client address, per conversation,
/// and on failed agent or admin sign-ins. Every one of them applies to one Baton process.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Take the client's address from the left-most `X-Forwarded-For` entry instead of the
    /// TCP peer. Only behind a proxy you control that sets the header itself: otherwise any
    /// client picks its own address, and with it a fresh budget.
    pub trust_forwarded_for: bool,
    /// Conversations created by one address.
    pub ip_conversations: Rate,
    /// Shopper messages sent from one address, over all its conversations.
    pub ip_messages: Rate,
    /// "Talk to a person" requests from one address.
    pub ip_handoffs: Rate,
    /// Messages left for the team (tickets) from one address.
    pub ip_tickets: Rate,
    /// Refused agent or admin tokens (401) from one address; past it, the agent and admin
    /// APIs answer 429 before any token is checked.
    pub ip_auth_failures: Rate,
    /// Shopper messages in one conversation.
    pub conversation_messages: Rate,
    /// "Talk to a person" requests in one conversation.
    pub conversation_handoffs: Rate,
    /// Messages left for the team in one conversation.
    pub conversation_tickets: Rate,
    /// Typing notices from the shopper's sockets of one conversation; the excess is dropped.
    pub conversation_typing: Rate,
    /// Shopper WebSockets open at once for one conversation; 0 = no cap.
    pub sockets_per_conversation: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            trust_forwarded_for: false,
            ip_conversations: Rate::new(20, 30),
            ip_messages: Rate::new(120, 60),
            ip_handoffs: Rate::new(20, 10),
            ip_tickets: Rate::new(10, 10),
            ip_auth_failures: Rate::new(10, 20),
            conversation_messages: Rate::new(20, 10),
            conversation_handoffs: Rate::new(6, 3),
            conversation_tickets: Rate::new(3, 3),
            conversation_typing: Rate::new(30, 10),
            sockets_per_conversation: 5,
        }
    }
}

impl LimitsConfig {
    /// Every rate with its key, for validation and messages.
    pub fn rates(&self) -> [(&'static str, Rate); 9] {
        self.clone().rates_mut().map(|(key, rate)| (key, *rate))
    }

    /// Every rate turned off, the socket cap kept: for measuring capacity, and for tests of
    /// something other than the limits.
    pub fn without_rates(mut self) -> Self {
        for (_, rate) in self.rates_mut() {
            *rate = Rate::OFF;
        }
        self
    }

    /// The one list of rates: a new limit added here is validated, documented in errors and
    /// turned off with the others.
    fn rates_mut(&mut self) -> [(&'static str, &mut Rate); 9] {
        [
            ("limits.ip_conversations", &mut self.ip_conversations),
            ("limits.ip_messages", &mut self.ip_messages),
            ("limits.ip_handoffs", &mut self.ip_handoffs),
            ("limits.ip_tickets", &mut self.ip_tickets),
            ("limits.ip_auth_failures", &mut self.ip_auth_failures),
            (
                "limits.conversation_messages",
                &mut self.conversation_messages,
            ),
            (
                "limits.conversation_handoffs",
                &mut self.conversation_handoffs,
            ),
            (
                "limits.conversation_tickets",
                &mut self.conversation_tickets,
            ),
            ("limits.conversation_typing", &mut self.conversation_typing),
        ]
    }
}

/// Signed customer identities (`customer_token`, see [`crate::identity`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityConfig {
    /// The key the shop's server signs customer tokens with (HMAC-SHA256), at least 32
    /// characters; unset: every shopper is an unverified guest. Set it in the environment
    /// (`BATON_IDENTITY__SECRET`) rather than in a file.
    pub secret: Option<Secret>,
    /// The key before the last rotation, still accepted until it is removed.
    pub previous_secret: Option<Secret>,
}

impl IdentityConfig {
    /// The keys a token may be signed with, current first; empty when none is configured.
    pub fn keys(&self) -> Vec<&[u8]> {
        [&self.secret, &self.previous_secret]
            .into_iter()
            .flatten()
            .map(Secret::expose)
            .collect()
    }
}

/// A configured secret. `Debug` and `Serialize` write a placeholder, never the value, so
/// printing or dumping the configuration cannot leak it; only [`Secret::expose`] reads it.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// What `Debug` and `Serialize` write instead of the value.
    pub const REDACTED: &'static str = "[redacted]";

    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret's bytes, for the code that signs or verifies with it.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The secret as text, for the code that connects with it (a database URL).
    pub fn expose_str(&self) -> &str {
        &self.0
    }

    fn chars(&self) -> usize {
        self.0.chars().count()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({})", Secret::REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(Secret::REDACTED)
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Secret) -> bool {
        use subtle::ConstantTimeEq;
        self.expose().ct_eq(other.expose()).into()
    }
}

/// Why configuration could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {path} does not exist")]
    MissingFile { path: PathBuf },
    #[error("invalid configuration: {0}")]
    Invalid(#[from] Box<figment::Error>),
    #[error("invalid configuration: {0}")]
    Value(String),
}

/// Settings given on the command line; `None` leaves the lower layers' value.
#[derive(Debug, Default, Clone, Serialize)]
pub struct CliOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kb: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intents: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub models: Option<PathBuf>,
}

impl Config {
    /// Merges the layers. `file` is the `--config` path (or `BATON_CONFIG`); without one,
    /// `baton.toml` in the working directory is read when it exists.
    pub fn load(file: Option<&Path>, cli: &CliOverrides) -> Result<Config, ConfigError> {
        Self::load_with_env(file, cli, Env::prefixed("BATON_").split("__"))
    }

    fn load_with_env(
        file: Option<&Path>,
        cli: &CliOverrides,
        env: Env,
    ) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) if !path.exists() => {
                return Err(ConfigError::MissingFile {
                    path: path.to_path_buf(),
                });
            }
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None => figment = figment.merge(Toml::file("baton.toml")),
        }
        // `BATON_CONFIG` names the file itself and `BATON_LOG` the log filter; neither is a key.
        let env = env.ignore(&["config", "log"]);
        let config: Config = figment
            .merge(env)
            .merge(Serialized::defaults(cli))
            .extract()
            .map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks relations between values that serde cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let p = &self.policy;
        for (name, v) in [
            ("policy.intent_threshold", p.intent_threshold),
            ("policy.faq_threshold", p.faq_threshold),
            ("policy.suggest_threshold", p.suggest_threshold),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(ConfigError::Value(format!(
                    "{name} must be within 0..=1, got {v}"
                )));
            }
        }
        if p.low_confidence_turns == 0 {
            return Err(ConfigError::Value(
                "policy.low_confidence_turns must be at least 1".into(),
            ));
        }
        if self.http.max_page_size == 0 || self.http.body_limit_bytes < 1024 {
            return Err(ConfigError::Value(
                "http.max_page_size must be > 0 and http.body_limit_bytes at least 1024".into(),
            ));
        }
        if self.http.header_read_timeout_ms == 0 || self.http.idle_timeout_ms == 0 {
            return Err(ConfigError::Value(
                "http.header_read_timeout_ms and http.idle_timeout_ms must be > 0".into(),
            ));
        }
        if !(1024..=1024 * 1024).contains(&self.http.max_header_bytes) {
            return Err(ConfigError::Value(
                "http.max_header_bytes must be within 1024..=1048576".into(),
            ));
        }
        if self.nlu.epochs == 0 || self.nlu.embedding_dim == 0 || self.nlu.faq_candidates == 0 {
            return Err(ConfigError::Value(
                "nlu.epochs, nlu.embedding_dim and nlu.faq_candidates must be > 0".into(),
            ));
        }
        if self.nlu.max_chars == 0 {
            return Err(ConfigError::Value(
                "nlu.max_chars must be > 0 (the bot must read something)".into(),
            ));
        }
        let gate = &self.nlu.encoder_gate;
        if !(0.0..=1.0).contains(&gate.intent_confidence)
            || !(0.0..=1.0).contains(&gate.faq_overlap)
        {
            return Err(ConfigError::Value(
                "nlu.encoder_gate.intent_confidence and faq_overlap must be within 0..=1".into(),
            ));
        }
        for (name, rate) in self.limits.rates() {
            if rate.per_minute > 0 && rate.burst == 0 {
                return Err(ConfigError::Value(format!(
                    "{name}.burst must be at least 1 when {name}.per_minute is set (per_minute = 0 turns the limit off)"
                )));
            }
        }
        let h = &self.handoff;
        if h.offer_timeout_secs == 0 || h.sweep_interval_ms == 0 || h.default_handle_secs == 0 {
            return Err(ConfigError::Value(
                "handoff.offer_timeout_secs, handoff.sweep_interval_ms and handoff.default_handle_secs must be > 0".into(),
            ));
        }
        if h.max_open_tickets == 0 {
            return Err(ConfigError::Value(
                "handoff.max_open_tickets must be at least 1 (0 would refuse every message left for the team)".into(),
            ));
        }
        if h.sticky_days > 3650 {
            return Err(ConfigError::Value(
                "handoff.sticky_days must be at most 3650 (0 turns sticky routing off)".into(),
            ));
        }
        let r = &self.retention;
        if r.days == Some(0) || r.sweep_interval_ms == 0 || r.batch_size == 0 {
            return Err(ConfigError::Value(
                "retention.days (when set), retention.sweep_interval_ms and retention.batch_size must be > 0".into(),
            ));
        }
        if self.admin_token.as_deref().is_some_and(|t| t.len() < 16) {
            return Err(ConfigError::Value(
                "admin_token must be at least 16 characters".into(),
            ));
        }
        let id = &self.identity;
        for (name, secret) in [
            ("identity.secret", &id.secret),
            ("identity.previous_secret", &id.previous_secret),
        ] {
            if secret.as_ref().is_some_and(|s| s.chars() < 32) {
                return Err(ConfigError::Value(format!(
                    "{name} must be at least 32 characters (e.g. `openssl rand -hex 32`)"
                )));
            }
        }
        if id.previous_secret.is_some() && id.secret.is_none() {
            return Err(ConfigError::Value(
                "identity.previous_secret needs identity.secret (the key that replaced it)".into(),
            ));
        }
        self.hours
            .validate()
            .map_err(|e| ConfigError::Value(e.to_string()))?;
        Ok(())
    }

    /// The sentence encoder's directory, when one is configured.
    pub fn encoder_dir(&self) -> Option<PathBuf> {
        (!self.nlu.encoder.trim().is_empty()).then(|| self.models.join(self.nlu.encoder.trim()))
    }

    /// The Chinese sentence encoder's directory, when one is configured.
    pub fn encoder_zh_dir(&self) -> Option<PathBuf> {
        (!self.nlu.encoder_zh.trim().is_empty())
            .then(|| self.models.join(self.nlu.encoder_zh.trim()))
    }

    /// Where trained models are cached.
    pub fn model_cache_dir(&self) -> PathBuf {
        self.nlu
            .cache_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("models"))
    }

    /// The SQLite file, resolved against the data directory.
    pub fn sqlite_path(&self) -> PathBuf {
        self.data_dir.join(&self.store.sqlite_file)
    }
}

#[cfg(test)]
// figment's `Jail` closures return its own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    fn load_in_jail(jail: &Jail, file: Option<&str>, cli: CliOverrides) -> Result<Config, String> {
        let _ = jail;
        Config::load_with_env(
            file.map(Path::new),
            &cli,
            Env::prefixed("BATON_").split("__"),
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn layers_override_in_order() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "custom.toml",
                "addr = \"127.0.0.1:9000\"\ndata_dir = \"from-file\"\n[policy]\nfaq_threshold = 0.7\n",
            )?;
            jail.set_env("BATON_DATA_DIR", "from-env");
            jail.set_env("BATON_POLICY__MAX_SUGGESTIONS", "5");
            let cli = CliOverrides {
                addr: Some("127.0.0.1:9100".parse().unwrap()),
                ..Default::default()
            };
            let c = load_in_jail(jail, Some("custom.toml"), cli).unwrap();
            assert_eq!(c.addr.port(), 9100, "CLI beats file");
            assert_eq!(c.data_dir, PathBuf::from("from-env"), "env beats file");
            assert_eq!(c.policy.faq_threshold, 0.7, "file beats default");
            assert_eq!(c.policy.max_suggestions, 5);
            assert_eq!(c.policy.low_confidence_turns, 2, "default kept");
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_rejected_in_file_and_env() {
        Jail::expect_with(|jail| {
            jail.create_file("a.toml", "[policy]\nfaq_treshold = 0.7\n")?;
            let err = load_in_jail(jail, Some("a.toml"), CliOverrides::default()).unwrap_err();
            assert!(err.contains("faq_treshold"), "{err}");
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.set_env("BATON_PORTT", "1");
            let err = load_in_jail(jail, None, CliOverrides::default()).unwrap_err();
            assert!(err.contains("portt"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn identity_secrets_come_from_the_environment_and_never_print() {
        Jail::expect_with(|jail| {
            let secret = "s3cret-0123456789abcdef-0123456789abcdef";
            jail.set_env("BATON_IDENTITY__SECRET", secret);
            jail.set_env("BATON_IDENTITY__PREVIOUS_SECRET", "p".repeat(32));
            let c = load_in_jail(jail, None, CliOverrides::default()).unwrap();
            assert_eq!(
                c.identity.keys(),
                [secret.as_bytes(), "p".repeat(32).as_bytes()]
            );
            let debug = format!("{c:?}");
            assert!(!debug.contains(secret), "Debug leaks the secret: {debug}");
            assert!(debug.contains("Secret([redacted])"), "{debug}");
            let dumped = serde_json::to_string(&c).unwrap();
            assert!(!dumped.contains(secret), "Serialize leaks the secret");
            Ok(())
        });
        Jail::expect_with(|jail| {
            // `openssl rand -hex` output that happens to be all digits stays a string.
            let digits = "1234567890".repeat(4)[..32].to_string();
            jail.set_env("BATON_IDENTITY__SECRET", &digits);
            let c = load_in_jail(jail, None, CliOverrides::default()).unwrap();
            assert_eq!(c.identity.keys(), [digits.as_bytes()]);
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.set_env("BATON_IDENTITY__SECRET", "short");
            let err = load_in_jail(jail, None, CliOverrides::default()).unwrap_err();
            assert!(
                err.contains("identity.secret") && !err.contains("short"),
                "{err}"
            );
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.set_env("BATON_IDENTITY__PREVIOUS_SECRET", "p".repeat(32));
            let err = load_in_jail(jail, None, CliOverrides::default()).unwrap_err();
            assert!(err.contains("previous_secret"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn missing_explicit_file_is_an_error_and_bad_values_are_caught() {
        Jail::expect_with(|jail| {
            let err = load_in_jail(jail, Some("nope.toml"), CliOverrides::default()).unwrap_err();
            assert!(err.contains("nope.toml"));
            jail.create_file("b.toml", "[policy]\nfaq_threshold = 1.5\n")?;
            let err = load_in_jail(jail, Some("b.toml"), CliOverrides::default()).unwrap_err();
            assert!(err.contains("faq_threshold"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn without_rates_turns_every_rate_off_and_keeps_the_socket_cap() {
        let limits = LimitsConfig::default().without_rates();
        assert!(limits.rates().iter().all(|(_, rate)| *rate == Rate::OFF));
        assert_eq!(
            limits.sockets_per_conversation,
            LimitsConfig::default().sockets_per_conversation
        );
        assert!(
            LimitsConfig::default()
                .rates()
                .iter()
                .all(|(_, r)| r.per_minute > 0)
        );
    }

    #[test]
    fn rate_limits_layer_and_a_burst_of_zero_is_refused() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "l.toml",
                "[limits]\ntrust_forwarded_for = true\nip_messages = { per_minute = 30, burst = 5 }\n",
            )?;
            jail.set_env("BATON_LIMITS__CONVERSATION_TYPING__PER_MINUTE", "0");
            let c = load_in_jail(jail, Some("l.toml"), CliOverrides::default()).unwrap();
            assert!(c.limits.trust_forwarded_for);
            assert_eq!(c.limits.ip_messages, Rate::new(30, 5));
            assert_eq!(c.limits.conversation_typing.per_minute, 0);
            assert_eq!(
                c.limits.ip_conversations,
                LimitsConfig::default().ip_conversations
            );
            jail.set_env("BATON_LIMITS__IP_TICKETS__BURST", "0");
            let err = load_in_jail(jail, Some("l.toml"), CliOverrides::default()).unwrap_err();
            assert!(err.contains("limits.ip_tickets.burst"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn edge_limits_have_safe_defaults_and_layer_like_other_keys() {
        let d = HttpConfig::default();
        assert_eq!(
            (
                d.header_read_timeout_ms,
                d.idle_timeout_ms,
                d.max_header_bytes
            ),
            (10_000, 60_000, 16 * 1024)
        );
        Jail::expect_with(|jail| {
            jail.create_file("e.toml", "[http]\nmax_header_bytes = 8192\n")?;
            jail.set_env("BATON_HTTP__HEADER_READ_TIMEOUT_MS", "2500");
            let c = load_in_jail(jail, Some("e.toml"), CliOverrides::default()).unwrap();
            assert_eq!(c.http.header_read_timeout_ms, 2500);
            assert_eq!(c.http.max_header_bytes, 8192);
            jail.set_env("BATON_HTTP__IDLE_TIMEOUT_MS", "0");
            let err = load_in_jail(jail, Some("e.toml"), CliOverrides::default()).unwrap_err();
            assert!(err.contains("idle_timeout_ms"), "{err}");
            Ok(())
        });
    }
}

/// Property tests: `cargo test --lib fuzz_`, `PROPTEST_CASES=N` for a long run.
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;
    use crate::fuzzing::{self, arbitrary_text, mutated};

    /// A TOML file's text as [`Config::load`] reads it, without touching the file system
    /// or the environment.
    fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(text))
            .extract()
            .map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    fn scalar(v: &Value) -> Option<String> {
        match v {
            Value::Null => None,
            Value::String(s) => Some(format!("{s:?}")),
            Value::Array(items) => Some(format!(
                "[{}]",
                items
                    .iter()
                    .filter_map(scalar)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Value::Object(_) => None,
            other => Some(other.to_string()),
        }
    }

    /// `value` (a JSON object) as TOML: keys first, then one `[table]` per object.
    fn toml(table: &str, value: &Value, out: &mut String) {
        let Value::Object(map) = value else { return };
        if !table.is_empty() {
            out.push_str(&format!("\n[{table}]\n"));
        }
        for (k, v) in map {
            if let Some(s) = scalar(v) {
                out.push_str(&format!("{k} = {s}\n"));
            }
        }
        for (k, v) in map {
            if v.is_object() {
                let name = if table.is_empty() {
                    k.clone()
                } else {
                    format!("{table}.{k}")
                };
                toml(&name, v, out);
            }
        }
    }

    /// Every key with its default value, the README's example, and a few files an operator
    /// might write.
    fn seeds() -> Vec<String> {
        let mut every_key = String::new();
        let defaults = serde_json::to_value(Config::default()).expect("defaults serialise");
        toml("", &defaults, &mut every_key);
        vec![
            every_key,
            "addr = \"0.0.0.0:8080\"\ndata_dir = \"/var/lib/baton\"\n\n[policy]\nfaq_threshold = 0.65\nvip_skill = \"vip\"\n\n[hours.skills.billing]\nopen = \"10:00\"\nclose = \"18:00\"\ndays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]\n".into(),
            "admin_token = \"0123456789abcdef0123\"\n[http]\nmax_header_bytes = 8192\nallowed_origins = [\"https://shop.example\"]\n[hours]\ntimezone = \"Europe/Berlin\"\n[hours.default]\nopen = \"00:00\"\nclose = \"24:00\"\ndays = [\"sat\", \"sun\"]\n".into(),
            String::new(),
        ]
    }

    /// Loading either fails with a message or yields a config that is valid and whose
    /// business hours answer for any skill at any time.
    fn check(text: &str, now: i64) -> Result<(), TestCaseError> {
        match from_toml(text) {
            Ok(config) => {
                prop_assert!(config.validate().is_ok());
                let now = jiff::Timestamp::from_second(now).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
                let skills = config
                    .hours
                    .skills
                    .keys()
                    .cloned()
                    .chain(["nobody".to_string()]);
                for skill in skills {
                    let span = config.hours.span_for(&skill);
                    prop_assert!(span.is_ok(), "{:?}", span);
                    prop_assert!(config.hours.is_open(&skill, now).is_ok());
                }
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
        Ok(())
    }

    fn hhmm() -> impl Strategy<Value = String> {
        prop_oneof![
            "[0-2][0-9]:[0-5][0-9]",
            "24:00",
            "[0-9:]{0,6}",
            any::<String>(),
        ]
    }

    proptest! {
        #![proptest_config(fuzzing::config(256))]

        #[test]
        fn fuzz_config_arbitrary_text(text in arbitrary_text(), now in any::<i64>()) {
            check(&text, now)?;
        }

        #[test]
        fn fuzz_config_mutated_files((_, text) in mutated(seeds(), 6), now in any::<i64>()) {
            check(&text, now)?;
        }

        /// Business hours: any values in the right places either validate or fail with
        /// a typed error; valid ones describe themselves as `HH:MM–HH:MM`.
        #[test]
        fn fuzz_config_hours(
            open in hhmm(),
            close in hhmm(),
            days in proptest::collection::vec(
                prop_oneof![
                    proptest::sample::select(vec!["mon", "tue", "wed", "thu", "fri", "sat", "sun"])
                        .prop_map(String::from),
                    "[a-zA-Z]{0,4}",
                ],
                0..8,
            ),
            timezone in prop_oneof![
                proptest::sample::select(vec!["Asia/Shanghai", "UTC", "America/St_Johns", "Etc/GMT+12"])
                    .prop_map(String::from),
                "[A-Za-z_/+.-]{0,20}",
            ],
            now in any::<i64>(),
        ) {
            let hours = BusinessHours {
                timezone,
                default: DaySchedule { open, close, days },
                skills: Default::default(),
            };
            if hours.validate().is_ok() {
                let span = hours.span_for("any").map_err(|e| TestCaseError::fail(e.to_string()))?;
                let text = span.describe();
                prop_assert_eq!(text.chars().count(), 11, "{}", text);
                let now = jiff::Timestamp::from_second(now).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
                prop_assert!(hours.is_open("any", now).is_ok());
            }
        }
    }
}
