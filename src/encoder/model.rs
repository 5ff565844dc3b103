//! A sentence encoder: tokenizer → transformer → mean pooling → L2 normalisation. Two kinds
//! of model directory are read:
//!
//! - a BERT-family model in safetensors (all-MiniLM-L6-v2, English): `config.json`,
//!   `tokenizer.json`, `model.safetensors`, run with candle-transformers' `BertModel`, texts
//!   truncated at 256 tokens and padded per pass to the longest, the mean over real tokens —
//!   the pipeline sentence-transformers runs for that model;
//! - the 4-bit multilingual-e5-small (Chinese and English): `e5-small-q4.bin`, run by [`super::quantized`] with the model's `query: ` prefix on every
//!   text (Baton embeds short questions and compares them with each other — the symmetric use
//!   its authors prescribe that prefix for).
//!
//! Cosine similarity of two outputs is their dot product.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use tokenizers::{Encoding, PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use super::quantized::QuantizedE5;

/// What goes wrong loading or running an encoder.
#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    #[error("{path}: {message}")]
    Load { path: PathBuf, message: String },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("encoder: {0}")]
    Tensor(#[from] candle_core::Error),
    /// The inference queue is full; the caller should retry shortly.
    #[error("the sentence encoder is saturated; retry shortly")]
    Busy,
    /// The inference workers have stopped (the process is shutting down).
    #[error("the sentence encoder has stopped")]
    Stopped,
}

impl EncoderError {
    /// The kind of failure, for logs about shoppers' texts: the messages of some variants
    /// come from the tokenizer and could quote what it was reading.
    pub fn kind(&self) -> &'static str {
        match self {
            EncoderError::Load { .. } => "load",
            EncoderError::Tokenizer(_) => "tokenizer",
            EncoderError::Tensor(_) => "tensor",
            EncoderError::Busy => "busy",
            EncoderError::Stopped => "stopped",
        }
    }
}

/// The longest input the BERT encoder reads, in tokens; longer text is truncated, as
/// sentence-transformers does for this model. (The multilingual model reads long text in
/// windows instead.)
pub const MAX_TOKENS: usize = 256;

/// The model inside an encoder.
enum Backend {
    Bert {
        model: Box<BertModel>,
        tokenizer: Box<Tokenizer>,
    },
    QuantizedE5(Box<QuantizedE5>),
}

/// A loaded sentence encoder. Immutable and shareable across threads.
pub struct SentenceEncoder {
    backend: Backend,
    dim: usize,
    /// Identifies the weights and tokenizer: embeddings cached under another key are not
    /// reused.
    fingerprint: String,
    name: String,
}

impl std::fmt::Debug for SentenceEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentenceEncoder")
            .field("name", &self.name)
            .field("dim", &self.dim)
            .finish()
    }
}

/// What a text is to multilingual-e5, which reads a `query: ` or `passage: ` prefix. Baton
/// embeds short questions and compares them with each other — the symmetric use the model's
/// authors prescribe `query: ` for — so everything is a [`TextRole::Query`] unless told
/// otherwise. BERT models ignore the role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextRole {
    Query,
    Passage,
}

impl TextRole {
    fn e5_prefix(self) -> &'static str {
        match self {
            TextRole::Query => "query: ",
            TextRole::Passage => "passage: ",
        }
    }
}

impl SentenceEncoder {
    /// The three files a BERT model directory holds.
    pub const FILES: [&'static str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];
    /// The files a 4-bit multilingual-e5 directory holds (its `tokenizer.json` is only
    /// for cross-checking the file's own tokenizer).
    pub const E5_FILES: [&'static str; 1] = ["e5-small-q4.bin"];

    /// True when `dir` holds a model of either kind.
    pub fn is_model_dir(dir: &Path) -> bool {
        Self::FILES.iter().all(|f| dir.join(f).is_file())
            || Self::E5_FILES.iter().all(|f| dir.join(f).is_file())
    }

    /// Loads the model in `dir`: the 4-bit multilingual-e5 when `e5-small-q4.bin` is there,
    /// else a BERT model from `config.json`, `tokenizer.json` and `model.safetensors`.
    pub fn load(dir: &Path) -> Result<SentenceEncoder, EncoderError> {
        let read = |f: &str| {
            std::fs::read(dir.join(f)).map_err(|e| EncoderError::Load {
                path: dir.join(f),
                message: e.to_string(),
            })
        };
        let load_err = |f: &str, message: String| EncoderError::Load {
            path: dir.join(f),
            message,
        };
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        let e5_weights = Self::E5_FILES[0];
        let (backend, dim) = if dir.join(e5_weights).is_file() {
            // The file carries the model's own tokenizer (see `unigram` for why
            // `tokenizer.json` is not loaded).
            let bytes = read(e5_weights)?;
            hasher.update(&bytes);
            let model =
                QuantizedE5::load(&bytes).map_err(|e| load_err(e5_weights, e.to_string()))?;
            let dim = model.shape().hidden;
            (Backend::QuantizedE5(Box::new(model)), dim)
        } else {
            let config_bytes = read("config.json")?;
            let config: BertConfig = serde_json::from_slice(&config_bytes)
                .map_err(|e| load_err("config.json", e.to_string()))?;
            let tokenizer_bytes = read("tokenizer.json")?;
            let mut tokenizer = Tokenizer::from_bytes(&tokenizer_bytes)
                .map_err(|e| load_err("tokenizer.json", e.to_string()))?;
            // The shipped tokenizer pads every input to 128 tokens, which costs five times
            // the compute for a short question; pad a batch only to its longest member.
            tokenizer.with_padding(Some(PaddingParams {
                strategy: PaddingStrategy::BatchLongest,
                ..PaddingParams::default()
            }));
            tokenizer
                .with_truncation(Some(TruncationParams {
                    max_length: MAX_TOKENS,
                    ..TruncationParams::default()
                }))
                .map_err(|e| load_err("tokenizer.json", e.to_string()))?;
            let weight_bytes = read("model.safetensors")?;
            hasher.update(&tokenizer_bytes);
            hasher.update(&config_bytes);
            hasher.update(&weight_bytes);
            let vb = VarBuilder::from_buffered_safetensors(weight_bytes, DType::F32, &Device::Cpu)
                .map_err(|e| load_err("model.safetensors", e.to_string()))?;
            let model = BertModel::load(vb, &config)
                .map_err(|e| load_err("model.safetensors", e.to_string()))?;
            (
                Backend::Bert {
                    model: Box::new(model),
                    tokenizer: Box::new(tokenizer),
                },
                config.hidden_size,
            )
        };
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "encoder".into());
        Ok(SentenceEncoder {
            backend,
            dim,
            fingerprint: format!("{:032x}", hasher.digest128()),
            name,
        })
    }

    /// True for the multilingual model (Chinese-capable).
    pub fn is_multilingual(&self) -> bool {
        matches!(self.backend, Backend::QuantizedE5(_))
    }

    /// Length of the vectors this encoder produces.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// A hash of the weights, tokenizer and configuration.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The model directory's name, for logs and reports.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Embeds one batch of texts in one forward pass: one unit vector per text, in order.
    /// Every text costs as much as the longest; [`SentenceEncoder::embed_many`] avoids that.
    pub fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EncoderError> {
        if let Backend::QuantizedE5(model) = &self.backend {
            return self.embed_e5(model, texts, TextRole::Query);
        }
        let encodings = self.tokenize(texts)?;
        let rows: Vec<&Encoding> = encodings.iter().collect();
        self.forward(&rows)
    }

    /// Embeds any number of texts, each forward pass over texts of similar length (see
    /// [`similar_length_groups`]); results come back in the order of `texts`. What the
    /// encoder's workers run on a micro-batch, and what bulk embedding runs.
    pub fn embed_many(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EncoderError> {
        const MAX_BATCH: usize = 32;
        if let Backend::QuantizedE5(model) = &self.backend {
            // No padding: the texts' tokens are concatenated, so none pays for another's
            // length.
            return self.embed_e5(model, texts, TextRole::Query);
        }
        let encodings = self.tokenize(texts)?;
        let lengths: Vec<usize> = encodings.iter().map(real_tokens).collect();
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        for group in similar_length_groups(&lengths, MAX_BATCH) {
            let rows: Vec<&Encoding> = group.iter().map(|&i| &encodings[i]).collect();
            for (&i, v) in group.iter().zip(self.forward(&rows)?) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    /// Embeds `texts` as `role` (only multilingual-e5 reads the role).
    pub fn embed_as(&self, texts: &[&str], role: TextRole) -> Result<Vec<Vec<f32>>, EncoderError> {
        match &self.backend {
            Backend::QuantizedE5(model) => self.embed_e5(model, texts, role),
            Backend::Bert { .. } => self.embed_many(texts),
        }
    }

    /// The multilingual model's vectors of `texts`, each read with `role`'s prefix.
    fn embed_e5(
        &self,
        model: &QuantizedE5,
        texts: &[&str],
        role: TextRole,
    ) -> Result<Vec<Vec<f32>>, EncoderError> {
        Ok(model.embed(texts, role.e5_prefix())?)
    }

    /// Token ids of `texts`, truncated at [`MAX_TOKENS`] and padded on the right to the
    /// longest of them.
    fn tokenize(&self, texts: &[&str]) -> Result<Vec<Encoding>, EncoderError> {
        let Backend::Bert { tokenizer, .. } = &self.backend else {
            return Err(EncoderError::Tokenizer("not a BERT model".into()));
        };
        tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| EncoderError::Tokenizer(e.to_string()))
    }

    /// One forward pass over `rows`, padded only to the longest of them: right padding
    /// means each row's first `len` positions hold all its real tokens.
    fn forward(&self, rows: &[&Encoding]) -> Result<Vec<Vec<f32>>, EncoderError> {
        let Some(len) = rows.iter().map(|e| real_tokens(e)).max() else {
            return Ok(Vec::new());
        };
        let batch = rows.len();
        let mut ids = Vec::with_capacity(batch * len);
        let mut mask = Vec::with_capacity(batch * len);
        for e in rows {
            ids.extend_from_slice(&e.get_ids()[..len]);
            mask.extend_from_slice(&e.get_attention_mask()[..len]);
        }
        let device = Device::Cpu;
        let ids = Tensor::from_vec(ids, (batch, len), &device)?;
        let mask = Tensor::from_vec(mask, (batch, len), &device)?;
        let token_types = ids.zeros_like()?;
        let Backend::Bert { model, .. } = &self.backend else {
            return Err(EncoderError::Tokenizer("not a BERT model".into()));
        };
        let hidden = model.forward(&ids, &token_types, Some(&mask))?;
        // Masked mean over tokens: padding contributes nothing to the sum or the count.
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
        let mean = summed.broadcast_div(&counts)?;
        let norms = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
        let unit = mean.broadcast_div(&norms)?;
        Ok(unit.to_vec2::<f32>()?)
    }
}

/// The number of real (not padding) tokens of an encoding.
fn real_tokens(e: &Encoding) -> usize {
    e.get_attention_mask().iter().filter(|&&m| m != 0).count()
}

/// Texts with `lengths` (in tokens) split into forward passes: each pass holds at most
/// `max_batch` texts, and its longest text is at most twice its shortest (lengths under
/// [`SHORT_TOKENS`] count as that much, so short questions share a pass freely).
///
/// In one pass every text costs as much as the longest, so a single long message batched
/// with fifteen short ones would cost sixteen long ones: one client sending long messages
/// would slow every shopper whose message shares its pass. Grouped, a text costs at most
/// twice its own length.
pub fn similar_length_groups(lengths: &[usize], max_batch: usize) -> Vec<Vec<usize>> {
    let max_batch = max_batch.max(1);
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| lengths[i]);
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut shortest = 0;
    for i in order {
        let length = lengths[i].max(SHORT_TOKENS);
        match groups.last_mut() {
            Some(group) if group.len() < max_batch && length <= 2 * shortest => group.push(i),
            _ => {
                groups.push(vec![i]);
                shortest = length;
            }
        }
    }
    groups
}

/// Below this many tokens, texts batch together whatever their lengths.
pub const SHORT_TOKENS: usize = 16;

/// `v` scaled to unit length (a zero vector stays zero).
pub fn normalised(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm == 0.0 {
        return v.to_vec();
    }
    v.iter().map(|x| x / norm).collect()
}

/// Dot product of two equal-length vectors (cosine similarity for unit vectors), in eight
/// lanes so the compiler can vectorise it: FAQ search and the pair searches of the lint are
/// all dot products.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            lanes[k] += x[k] * y[k];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lengths_of(groups: &[Vec<usize>], lengths: &[usize]) -> Vec<Vec<usize>> {
        groups
            .iter()
            .map(|g| g.iter().map(|&i| lengths[i]).collect())
            .collect()
    }

    #[test]
    fn a_long_text_gets_a_forward_pass_of_its_own() {
        let lengths = [9, 240, 12, 7, 11];
        let groups = similar_length_groups(&lengths, 16);
        assert_eq!(
            lengths_of(&groups, &lengths),
            vec![vec![7, 9, 11, 12], vec![240]]
        );
    }

    #[test]
    fn every_text_once_no_pass_too_big_or_too_uneven() {
        let lengths: Vec<usize> = (0..200).map(|i| (i * 37) % 257).collect();
        let groups = similar_length_groups(&lengths, 8);
        let mut seen: Vec<usize> = groups.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..200).collect::<Vec<_>>());
        for g in lengths_of(&groups, &lengths) {
            assert!(!g.is_empty() && g.len() <= 8, "{g:?}");
            let (lo, hi) = (g[0].max(SHORT_TOKENS), g[g.len() - 1].max(SHORT_TOKENS));
            assert!(hi <= 2 * lo, "{g:?}");
        }
        assert!(similar_length_groups(&[], 8).is_empty());
        assert_eq!(
            similar_length_groups(&[5, 5], 0).len(),
            2,
            "a batch of at least one"
        );
    }
}
