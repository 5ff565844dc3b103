//! The multilingual encoder (intfloat/multilingual-e5-small) run from its 4-bit file: a
//! 12-layer post-LayerNorm BERT. The word embeddings stay a candle quantized tensor in Q4_0
//! blocks (250,037 rows; only the rows of a text's tokens are ever expanded); the linear
//! weights are multiplied in 8-bit integers by [`super::int8_matmul`] (each activation row
//! quantized to 8-bit blocks, as the reference engine does). Position embeddings,
//! LayerNorms, attention and biases are f32 candle tensors.
//!
//! Data flow: each text with its prefix → the model's own tokenizer ([`super::unigram`]) → windows of
//! at most `positions − 2` tokens, each framed by `<s>` … `</s>` → the windows of many texts
//! concatenated into one `[tokens, hidden]` matrix, so every weight is read once per pass and
//! no token is padding → embeddings (4-bit row lookup + position + token type 0) → 12 layers,
//! attention restricted to each window's own tokens → the mean of each window's hidden states
//! (`<s>` and `</s>` included) → a text's windows averaged by their token counts → L2
//! normalisation.

use std::ops::Range;

use candle_core::quantized::{GgmlDType, QTensor, ggml_file::qtensor_from_ggml};
use candle_core::{Device, Result, Tensor};

use super::e5_file::{E5File, FormatError, Shape, StoredAs};
use super::int8_matmul::Int8Weights;
use super::unigram::Unigram;

/// Tokens per forward pass at most: long inputs run in bounded memory.
const TOKENS_PER_PASS: usize = 8192;

struct Linear {
    weight: Int8Weights,
    bias: Vec<f32>,
}

impl Linear {
    /// `x · Wᵀ + b` for `tokens` rows.
    fn forward(&self, x: &[f32], tokens: usize) -> Vec<f32> {
        let mut y = self.weight.matmul(x, tokens);
        for row in y.chunks_exact_mut(self.bias.len()) {
            row.iter_mut().zip(&self.bias).for_each(|(v, b)| *v += b);
        }
        y
    }
}

struct Norm {
    weight: Vec<f32>,
    bias: Vec<f32>,
    eps: f32,
}

impl Norm {
    /// LayerNorm of each row of `x`, in place.
    fn apply(&self, x: &mut [f32]) {
        let h = self.weight.len() as f32;
        for row in x.chunks_exact_mut(self.weight.len()) {
            let mean = row.iter().sum::<f32>() / h;
            let variance = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / h;
            let inverse = 1.0 / (variance + self.eps).sqrt();
            for ((v, w), b) in row.iter_mut().zip(&self.weight).zip(&self.bias) {
                *v = (*v - mean) * inverse * w + b;
            }
        }
    }
}

/// GELU with the exact (erf) form BERT uses; erf by Abramowitz & Stegun 7.1.26
/// (|error| < 1.5e-7), far below the 8-bit activations' own rounding.
fn gelu(x: f32) -> f32 {
    let z = x * std::f32::consts::FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z.abs());
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152 + t * 1.061_405_4))));
    let erf = 1.0 - poly * (-z * z).exp();
    0.5 * x * (1.0 + erf.copysign(z))
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: Norm,
    intermediate: Linear,
    output: Linear,
    output_norm: Norm,
}

/// The loaded 4-bit encoder. Immutable; shareable across threads.
pub struct QuantizedE5 {
    shape: Shape,
    tokenizer: Unigram,
    word: QTensor,
    positions: Vec<f32>,
    token_type: Vec<f32>,
    embedding_norm: Norm,
    layers: Vec<Layer>,
}

/// A loading problem: the file's format, or candle refusing a tensor.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error(transparent)]
    Tensor(#[from] candle_core::Error),
}

impl QuantizedE5 {
    /// Builds the model from the whole file's bytes. The 4-bit blocks are copied into candle's
    /// storage, so `bytes` can be dropped afterwards.
    pub fn load(bytes: &[u8]) -> std::result::Result<QuantizedE5, LoadError> {
        let file = E5File::parse(bytes)?;
        let shape = file.shape;
        let (h, ff) = (shape.hidden, shape.feed_forward);
        let device = Device::Cpu;
        let floats = |name: &str, len: usize| -> std::result::Result<Vec<f32>, LoadError> {
            let t = file.tensor(name, StoredAs::F32, len)?;
            Ok(bytes[t.bytes.clone()]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect())
        };
        let blocks =
            |name: &str, rows: usize, cols: usize| -> std::result::Result<QTensor, LoadError> {
                let t = file.tensor(name, StoredAs::Q4_0, rows * cols)?;
                Ok(qtensor_from_ggml(
                    GgmlDType::Q4_0,
                    &bytes[t.bytes.clone()],
                    vec![rows, cols],
                    &device,
                )?)
            };
        let linear =
            |prefix: &str, rows: usize, cols: usize| -> std::result::Result<Linear, LoadError> {
                let w = file.tensor(&format!("{prefix}.w"), StoredAs::Q4_0, rows * cols)?;
                Ok(Linear {
                    weight: Int8Weights::from_q4_0(&bytes[w.bytes.clone()], rows, cols),
                    bias: floats(&format!("{prefix}.b"), rows)?,
                })
            };
        let norm = |prefix: &str| -> std::result::Result<Norm, LoadError> {
            Ok(Norm {
                weight: floats(&format!("{prefix}.w"), h)?,
                bias: floats(&format!("{prefix}.b"), h)?,
                eps: shape.layer_norm_eps as f32,
            })
        };
        let layers = (0..shape.layers)
            .map(|l| {
                Ok(Layer {
                    query: linear(&format!("l{l}.q"), h, h)?,
                    key: linear(&format!("l{l}.k"), h, h)?,
                    value: linear(&format!("l{l}.v"), h, h)?,
                    attention_out: linear(&format!("l{l}.ao"), h, h)?,
                    attention_norm: norm(&format!("l{l}.aln"))?,
                    intermediate: linear(&format!("l{l}.fi"), ff, h)?,
                    output: linear(&format!("l{l}.fo"), h, ff)?,
                    output_norm: norm(&format!("l{l}.oln"))?,
                })
            })
            .collect::<std::result::Result<Vec<_>, LoadError>>()?;
        // The position table already carries XLM-R's offset of 2: positions count from 0.
        let positions = floats("emb.pos", shape.positions * h)?;
        // Only token type 0 (the first row) is ever used.
        let mut token_type = floats("emb.type", shape.token_types * h)?;
        token_type.truncate(h);
        Ok(QuantizedE5 {
            shape,
            tokenizer: Unigram::load(bytes, &file.tokenizer)?,
            word: blocks("emb.word", shape.vocabulary, h)?,
            positions,
            token_type,
            embedding_norm: norm("emb.ln")?,
            layers,
        })
    }

    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// The model's token ids of `text` (without `<s>`/`</s>`).
    pub fn tokenize(&self, text: &str) -> Vec<u32> {
        self.tokenizer.encode(text)
    }

    /// Unit vectors of `texts`, each read after `prefix`.
    pub fn embed(&self, texts: &[&str], prefix: &str) -> Result<Vec<Vec<f32>>> {
        let ids: Vec<Vec<u32>> = texts
            .iter()
            .map(|t| self.tokenizer.encode(&format!("{prefix}{t}")))
            .collect();
        self.embed_ids(&ids)
    }

    /// Unit vectors of texts given as token ids (prefix included, no special tokens), in
    /// order. A text longer than the model's window is read window by window and its windows
    /// averaged by their token counts.
    pub fn embed_ids(&self, texts: &[Vec<u32>]) -> Result<Vec<Vec<f32>>> {
        let window = self.shape.positions - 2;
        // (text, content range) of every window, in order.
        let mut windows: Vec<(usize, Range<usize>)> = Vec::new();
        for (i, ids) in texts.iter().enumerate() {
            let n = ids.len();
            if n == 0 {
                windows.push((i, 0..0));
            }
            windows.extend((0..n).step_by(window).map(|a| (i, a..(a + window).min(n))));
        }
        let h = self.shape.hidden;
        let mut sums = vec![vec![0f32; h]; texts.len()];
        let mut weights = vec![0f32; texts.len()];
        let mut next = 0;
        while next < windows.len() {
            // As many windows as fit the token budget, at least one.
            let mut end = next;
            let mut tokens = 0;
            while end < windows.len() {
                let len = windows[end].1.len() + 2;
                if end > next && tokens + len > TOKENS_PER_PASS {
                    break;
                }
                tokens += len;
                end += 1;
            }
            let pass = &windows[next..end];
            let sequences: Vec<Vec<u32>> = pass
                .iter()
                .map(|(i, r)| {
                    let mut s = Vec::with_capacity(r.len() + 2);
                    s.push(self.shape.bos);
                    s.extend_from_slice(&texts[*i][r.clone()]);
                    s.push(self.shape.eos);
                    s
                })
                .collect();
            for ((i, r), mean) in pass.iter().zip(self.mean_hidden(&sequences)?) {
                let weight = r.len().max(1) as f32;
                for (s, m) in sums[*i].iter_mut().zip(mean) {
                    *s += weight * m;
                }
                weights[*i] += weight;
            }
            next = end;
        }
        Ok(sums
            .into_iter()
            .zip(weights)
            .map(|(mut v, w)| {
                let norm = v.iter().map(|x| (x / w) * (x / w)).sum::<f32>().sqrt();
                let scale = 1.0 / (w * norm.max(1e-12));
                v.iter_mut().for_each(|x| *x *= scale);
                v
            })
            .collect())
    }

    /// The mean of the last hidden states of each sequence (ids with `<s>`/`</s>`), one
    /// forward pass over all of them.
    fn mean_hidden(&self, sequences: &[Vec<u32>]) -> Result<Vec<Vec<f32>>> {
        let h = self.shape.hidden;
        let mut ids = Vec::new();
        let mut spans = Vec::with_capacity(sequences.len());
        for s in sequences {
            spans.push(ids.len()..ids.len() + s.len());
            ids.extend_from_slice(s);
        }
        let tokens = ids.len();
        let ids = Tensor::from_vec(ids, tokens, &Device::Cpu)?;
        let mut x = self.word.embedding(&ids)?.flatten_all()?.to_vec1::<f32>()?;
        for span in &spans {
            for (position, t) in span.clone().enumerate() {
                let row = &mut x[t * h..(t + 1) * h];
                let p = &self.positions[position * h..(position + 1) * h];
                for ((v, p), k) in row.iter_mut().zip(p).zip(&self.token_type) {
                    *v += p + k;
                }
            }
        }
        self.embedding_norm.apply(&mut x);
        for layer in &self.layers {
            x = self.layer(layer, x, tokens, &spans);
        }
        Ok(spans
            .iter()
            .map(|r| {
                let mut mean = vec![0f32; h];
                for row in x[r.start * h..r.end * h].chunks_exact(h) {
                    mean.iter_mut().zip(row).for_each(|(m, v)| *m += v);
                }
                let n = r.len().max(1) as f32;
                mean.iter_mut().for_each(|m| *m /= n);
                mean
            })
            .collect())
    }

    fn layer(&self, layer: &Layer, x: Vec<f32>, tokens: usize, spans: &[Range<usize>]) -> Vec<f32> {
        let h = self.shape.hidden;
        let q = layer.query.forward(&x, tokens);
        let k = layer.key.forward(&x, tokens);
        let v = layer.value.forward(&x, tokens);
        let context = self.attention(&q, &k, &v, spans);
        let mut x = add(x, &layer.attention_out.forward(&context, tokens));
        layer.attention_norm.apply(&mut x);
        let mut mid = layer.intermediate.forward(&x, tokens);
        mid.iter_mut().for_each(|m| *m = gelu(*m));
        let mut x = add(x, &layer.output.forward(&mid, tokens));
        layer.output_norm.apply(&mut x);
        debug_assert_eq!(x.len(), tokens * h);
        x
    }

    /// Scaled dot-product attention of every head, each token attending to its own
    /// sequence only.
    fn attention(&self, q: &[f32], k: &[f32], v: &[f32], spans: &[Range<usize>]) -> Vec<f32> {
        let h = self.shape.hidden;
        let head_dim = h / self.shape.heads;
        let scale = 1.0 / (head_dim as f32).sqrt();
        let mut context = vec![0f32; q.len()];
        let mut weights = Vec::new();
        for span in spans {
            for head in 0..self.shape.heads {
                let at = |t: usize| -> std::ops::Range<usize> {
                    let start = t * h + head * head_dim;
                    start..start + head_dim
                };
                for t in span.clone() {
                    let qt = &q[at(t)];
                    weights.clear();
                    weights.extend(span.clone().map(|s| {
                        qt.iter().zip(&k[at(s)]).map(|(a, b)| a * b).sum::<f32>() * scale
                    }));
                    let max = weights.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let mut total = 0.0;
                    weights.iter_mut().for_each(|w| {
                        *w = (*w - max).exp();
                        total += *w;
                    });
                    let out = at(t);
                    for (s, w) in span.clone().zip(&weights) {
                        let p = w / total;
                        for (c, vs) in context[out.clone()].iter_mut().zip(&v[at(s)]) {
                            *c += p * vs;
                        }
                    }
                }
            }
        }
        context
    }
}

/// `x + y`, element-wise, reusing `x`.
fn add(mut x: Vec<f32>, y: &[f32]) -> Vec<f32> {
    x.iter_mut().zip(y).for_each(|(a, b)| *a += b);
    x
}

impl std::fmt::Debug for QuantizedE5 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuantizedE5")
            .field("shape", &self.shape)
            .finish()
    }
}
