//! The pre-trained sentence encoders and everything around them: a model ([`model`]:
//! all-MiniLM-L6-v2 or any BERT-family directory, or the 4-bit multilingual-e5-small of
//! [`quantized`], with its file format [`e5_file`], tokenizer [`unigram`] and integer kernel
//! [`int8_matmul`]), one model per language ([`routed`]), the on-disk cache of content
//! embeddings ([`cache`]), the worker pool that embeds shoppers' messages off the request
//! runtime ([`pool`]), the in-memory vectors of recent messages ([`recent`]), how often a
//! message took a forward pass ([`usage`]), how long numbers are read ([`numbers`]), and
//! similarity
//! by meaning with each model's measured thresholds, for the near-duplicate check and the
//! knowledge-gap groups ([`similarity`]).
//!
//! [`Encoder`] bundles the model, the caches and the pool. It is optional: without a model
//! directory Baton runs on the n-gram classifier and BM25 alone, and [`Encoder::load_optional`] says once how to install
//! the model.

pub mod cache;
pub mod e5_file;
pub mod int8_matmul;
pub mod model;
pub mod numbers;
pub mod pool;
pub mod quantized;
pub mod recent;
pub mod routed;
pub mod similarity;
pub mod unigram;
pub mod usage;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

pub use cache::EmbeddingCache;
pub use model::{EncoderError, SentenceEncoder, TextRole, dot, normalised};
pub use pool::{EncoderPool, PoolOptions};
pub use recent::RecentVectors;
pub use routed::LanguageEncoders;
pub use usage::{EncoderUsage, UsageCounts};

/// The command that installs the default model, for messages.
pub const INSTALL_HINT: &str = "models/install.sh";

/// A loaded encoder with its content cache and online pool.
#[derive(Debug)]
pub struct Encoder {
    pub model: Arc<LanguageEncoders>,
    pub cache: EmbeddingCache,
    pub pool: EncoderPool,
    /// Vectors of recent shoppers' messages (memory only).
    pub recent: RecentVectors,
    /// Threads used for bulk embedding (content, evaluation sets).
    pub bulk_threads: usize,
    /// How shoppers' messages were understood, since start.
    pub usage: EncoderUsage,
}

impl Encoder {
    /// Loads the model in `dir` and starts its pool; content embeddings are cached in
    /// `cache_dir`.
    pub fn load(
        dir: &Path,
        cache_dir: Option<&Path>,
        options: PoolOptions,
    ) -> Result<Encoder, EncoderError> {
        Self::load_per_language(dir, None, cache_dir, options)
    }

    /// Loads the model in `dir` for English and, when given, the one in `chinese_dir` for
    /// text with Chinese characters (see [`routed`]); starts the pool.
    pub fn load_per_language(
        dir: &Path,
        chinese_dir: Option<&Path>,
        cache_dir: Option<&Path>,
        options: PoolOptions,
    ) -> Result<Encoder, EncoderError> {
        let started = std::time::Instant::now();
        let english = Arc::new(SentenceEncoder::load(dir)?);
        let chinese = match chinese_dir {
            Some(d) if d != dir => Some(Arc::new(SentenceEncoder::load(d)?)),
            _ => None,
        };
        let model = Arc::new(LanguageEncoders::new(english, chinese));
        let cache = EmbeddingCache::open(cache_dir, &model);
        tracing::info!(
            model = model.name(),
            dim = model.dim(),
            cached_vectors = cache.len(),
            load_ms = started.elapsed().as_millis() as u64,
            "sentence encoder loaded"
        );
        let pool = EncoderPool::start(model.clone(), options);
        Ok(Encoder {
            model,
            cache,
            pool,
            recent: RecentVectors::new(options.cached_messages),
            bulk_threads: options.workers.max(1),
            usage: EncoderUsage::default(),
        })
    }

    /// Like [`Encoder::load_per_language`], but a missing model directory is not an error:
    /// without the English one Baton runs without an encoder, without the Chinese one the
    /// English model reads everything; either is logged once with how to install it. A
    /// directory that is present but broken is an error — silently running a weaker bot
    /// would hide it.
    pub fn load_optional(
        dir: &Path,
        chinese_dir: Option<&Path>,
        cache_dir: Option<&Path>,
        options: PoolOptions,
    ) -> Result<Option<Encoder>, EncoderError> {
        if !dir.exists() {
            tracing::warn!(
                dir = %dir.display(),
                "no sentence encoder at {}: running on the n-gram classifier and BM25 alone; \
                 run `{INSTALL_HINT}` to install all-MiniLM-L6-v2 for better answers",
                dir.display()
            );
            return Ok(None);
        }
        let chinese_dir = chinese_dir.filter(|d| {
            let present = d.exists();
            if !present {
                tracing::warn!(
                    dir = %d.display(),
                    "no Chinese sentence encoder at {}: Chinese is read by the English model's \
                     vectors and n-grams; run `{INSTALL_HINT}` to install multilingual-e5-small",
                    d.display()
                );
            }
            present
        });
        Self::load_per_language(dir, chinese_dir, cache_dir, options).map(Some)
    }

    /// The encoder `config` names, or `None` when it is turned off or not installed.
    pub fn from_config(
        config: &crate::config::Config,
    ) -> Result<Option<Arc<Encoder>>, EncoderError> {
        let Some(dir) = config.encoder_dir() else {
            return Ok(None);
        };
        let cache = config.model_cache_dir();
        let chinese = config.encoder_zh_dir();
        Ok(Self::load_optional(
            &dir,
            chinese.as_deref(),
            Some(&cache),
            Self::pool_options(config),
        )?
        .map(Arc::new))
    }

    /// The pool sizing `config` asks for (0 workers = one per core).
    pub fn pool_options(config: &crate::config::Config) -> PoolOptions {
        let workers = match config.nlu.encoder_workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        PoolOptions {
            workers,
            queue: config.nlu.encoder_queue,
            max_batch: config.nlu.encoder_batch,
            cached_messages: config.nlu.cached_messages,
        }
    }

    /// Embeds content texts (FAQ phrasings, intent examples), reusing cached vectors.
    pub fn embed_content(&self, texts: &[&str]) -> Result<Vec<Arc<[f32]>>, EncoderError> {
        self.cache.embed_all(&self.model, texts, self.bulk_threads)
    }

    /// Embeds texts that must not be kept (shoppers' words, for the knowledge-gap groups):
    /// cached content vectors are reused, nothing is added to the cache, and identical texts
    /// are embedded once. Runs on the calling thread, in batches, so a background job leaves
    /// the other cores to live traffic.
    pub fn embed_transient(&self, texts: &[&str]) -> Result<Vec<Arc<[f32]>>, EncoderError> {
        const BATCH: usize = 64;
        let mut known: HashMap<&str, Arc<[f32]>> = HashMap::new();
        let mut queued: HashSet<&str> = HashSet::new();
        let mut missing: Vec<&str> = Vec::new();
        for &t in texts {
            if known.contains_key(t) || queued.contains(t) {
                continue;
            }
            match self.cache.get(t) {
                Some(v) => {
                    known.insert(t, v);
                }
                None => {
                    queued.insert(t);
                    missing.push(t);
                }
            }
        }
        for batch in missing.chunks(BATCH) {
            for (t, v) in batch.iter().zip(self.model.embed_many(batch)?) {
                known.insert(t, Arc::from(v));
            }
        }
        texts
            .iter()
            .map(|t| known.get(t).cloned().ok_or(EncoderError::Stopped))
            .collect()
    }

    /// Embeds one shopper message on the pool, unless the text is content or was seen
    /// recently (never cached on disk).
    pub async fn embed_message(&self, text: &str) -> Result<Arc<[f32]>, EncoderError> {
        if let Some(v) = self.cache.get(text) {
            self.usage.vector(false);
            return Ok(v);
        }
        // Keyed by what the encoder reads, so messages that differ only in an order number
        // share one vector.
        let read = numbers::for_encoder(text);
        let mut computed = false;
        let vector = self
            .recent
            .get_or_embed(&read, || {
                computed = true;
                self.pool.embed(&read)
            })
            .await;
        if vector.is_ok() {
            self.usage.vector(computed);
        }
        vector
    }
}
