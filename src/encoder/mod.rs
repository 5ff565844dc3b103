//! The pre-trained sentence encoder (all-MiniLM-L6-v2 or any BERT-family model directory) and
//! everything around it: the model itself ([`model`]), the on-disk cache of content
//! embeddings ([`cache`]), and the worker pool that embeds shoppers' messages off the request
//! runtime ([`pool`]).
//!
//! [`Encoder`] bundles the three. It is optional: without a model directory Baton runs on the
//! n-gram classifier and BM25 alone, and [`Encoder::load_optional`] says once how to install
//! the model.

pub mod cache;
pub mod e5_file;
pub mod int8_matmul;
pub mod model;
pub mod pool;
pub mod quantized;
pub mod unigram;

use std::path::Path;
use std::sync::Arc;

pub use cache::EmbeddingCache;
pub use model::{EncoderError, SentenceEncoder, TextRole, dot};
pub use pool::{EncoderPool, PoolOptions};

/// The command that installs the default model, for messages.
pub const INSTALL_HINT: &str = "models/install.sh";

/// A loaded encoder with its content cache and online pool.
#[derive(Debug)]
pub struct Encoder {
    pub model: Arc<SentenceEncoder>,
    pub cache: EmbeddingCache,
    pub pool: EncoderPool,
    /// Threads used for bulk embedding (content, evaluation sets).
    pub bulk_threads: usize,
}

impl Encoder {
    /// Loads the model in `dir` and starts its pool; content embeddings are cached in
    /// `cache_dir`.
    pub fn load(
        dir: &Path,
        cache_dir: Option<&Path>,
        options: PoolOptions,
    ) -> Result<Encoder, EncoderError> {
        let started = std::time::Instant::now();
        let model = Arc::new(SentenceEncoder::load(dir)?);
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
            bulk_threads: options.workers.max(1),
        })
    }

    /// Like [`Encoder::load`], but a missing model directory is not an error: Baton runs
    /// without the encoder and logs, once, how to install it. A directory that is present but
    /// broken is an error — silently running a weaker bot would hide it.
    pub fn load_optional(
        dir: &Path,
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
        Self::load(dir, cache_dir, options).map(Some)
    }

    /// The encoder `config` names, or `None` when it is turned off or not installed.
    pub fn from_config(
        config: &crate::config::Config,
    ) -> Result<Option<Arc<Encoder>>, EncoderError> {
        let Some(dir) = config.encoder_dir() else {
            return Ok(None);
        };
        let cache = config.model_cache_dir();
        Ok(Self::load_optional(&dir, Some(&cache), Self::pool_options(config))?.map(Arc::new))
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
        }
    }

    /// Embeds content texts (FAQ phrasings, intent examples), reusing cached vectors.
    pub fn embed_content(&self, texts: &[&str]) -> Result<Vec<Arc<[f32]>>, EncoderError> {
        self.cache.embed_all(&self.model, texts, self.bulk_threads)
    }

    /// Embeds one shopper message on the pool (never cached on disk).
    pub async fn embed_message(&self, text: &str) -> Result<Vec<f32>, EncoderError> {
        if let Some(v) = self.cache.get(text) {
            return Ok(v.to_vec());
        }
        self.pool.embed(text).await
    }
}
