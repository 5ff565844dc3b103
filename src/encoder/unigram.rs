//! The multilingual model's SentencePiece unigram tokenizer, read from its `E5S1` file.
//!
//! Why not the Hugging Face `tokenizer.json` of the same model: it gives the same ids, but
//! `tokenizers` keeps its 250,000 pieces in a trie of hash maps that takes ~280 MB resident —
//! four times the 4-bit model itself. Here the pieces stay in one byte blob with an
//! open-addressing index (~6 MB). `tests/multilingual_encoder.rs` checks the ids against
//! `tokenizer.json`.
//!
//! Data flow: text → canonical composition (NFC) → each code point through the normalisation map (NFKC-style folding,
//! full-width to half-width, …) → runs of spaces collapsed → a leading `▁` and every space
//! as `▁` → Viterbi over the pieces' log-probabilities (an unknown character costs the lowest
//! score − 10 and becomes `<unk>`) → piece ids, without `<s>`/`</s>`.

use std::ops::Range;

use unicode_normalization::UnicodeNormalization;

use super::e5_file::{FormatError, TokenizerSection};

/// SentencePiece's word-boundary marker.
const METASPACE: char = '\u{2581}';

/// A loaded unigram tokenizer.
pub struct Unigram {
    blob: Vec<u8>,
    /// Piece i is `blob[offsets[i]..offsets[i + 1]]`.
    offsets: Vec<u32>,
    scores: Vec<f32>,
    /// Open addressing by FNV-1a of the piece's bytes: piece index + 1, 0 = empty.
    index: Vec<u32>,
    unk: u32,
    unk_score: f32,
    longest_piece: usize,
    /// Sorted code points with a replacement, and where each replacement lies in
    /// `replacements`.
    normalised: Vec<(u32, Range<u32>)>,
    replacements: Vec<char>,
}

impl std::fmt::Debug for Unigram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unigram")
            .field("pieces", &self.scores.len())
            .finish()
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn words(bytes: &[u8]) -> impl Iterator<Item = [u8; 4]> + '_ {
    bytes.chunks_exact(4).map(|b| [b[0], b[1], b[2], b[3]])
}

impl Unigram {
    /// Reads the tokenizer `section` of a model file's `bytes`.
    pub fn load(bytes: &[u8], section: &TokenizerSection) -> Result<Unigram, FormatError> {
        let bad = |problem: &str| FormatError::Header(format!("tokenizer: {problem}"));
        let blob = bytes[section.blob.clone()].to_vec();
        let offsets: Vec<u32> = words(&bytes[section.offsets.clone()])
            .map(u32::from_le_bytes)
            .collect();
        let scores: Vec<f32> = words(&bytes[section.scores.clone()])
            .map(f32::from_le_bytes)
            .collect();
        if offsets.len() != section.pieces + 1
            || offsets.windows(2).any(|w| w[0] > w[1])
            || offsets.last().is_some_and(|&end| end as usize > blob.len())
        {
            return Err(bad("piece offsets out of order or outside the pieces"));
        }

        let mut normalised = Vec::with_capacity(section.normalisations);
        let mut replacements = Vec::new();
        let mut at = &bytes[section.normalisation.clone()];
        for _ in 0..section.normalisations {
            let (head, rest) = at
                .split_at_checked(5)
                .ok_or_else(|| bad("normalisation map ends early"))?;
            let code_point = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
            let (outputs, rest) = rest
                .split_at_checked(usize::from(head[4]) * 4)
                .ok_or_else(|| bad("normalisation map ends early"))?;
            let start = replacements.len() as u32;
            for w in words(outputs) {
                replacements.push(
                    char::from_u32(u32::from_le_bytes(w))
                        .ok_or_else(|| bad("a replacement is not a character"))?,
                );
            }
            normalised.push((code_point, start..replacements.len() as u32));
            at = rest;
        }
        if normalised.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(bad("normalisation map not sorted"));
        }

        let slots = (section.pieces * 2).next_power_of_two();
        let mut index = vec![0u32; slots];
        let mut longest_piece = 1;
        for (i, w) in offsets.windows(2).enumerate() {
            let piece = &blob[w[0] as usize..w[1] as usize];
            if piece.is_empty() {
                continue;
            }
            longest_piece = longest_piece.max(piece.len());
            let mut slot = fnv1a(piece) as usize & (slots - 1);
            while index[slot] != 0 {
                slot = (slot + 1) & (slots - 1);
            }
            index[slot] = i as u32 + 1;
        }
        let lowest = scores.iter().copied().fold(f32::INFINITY, f32::min);
        Ok(Unigram {
            blob,
            offsets,
            scores,
            index,
            unk: section.unk,
            unk_score: lowest - 10.0,
            longest_piece,
            normalised,
            replacements,
        })
    }

    fn piece(&self, i: usize) -> &[u8] {
        &self.blob[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    fn lookup(&self, bytes: &[u8]) -> Option<usize> {
        let mask = self.index.len() - 1;
        let mut slot = fnv1a(bytes) as usize & mask;
        loop {
            let i = self.index[slot].checked_sub(1)? as usize;
            if self.piece(i) == bytes {
                return Some(i);
            }
            slot = (slot + 1) & mask;
        }
    }

    /// The normalised text with SentencePiece's word markers.
    fn normalise(&self, text: &str) -> String {
        let mut chars: Vec<char> = Vec::with_capacity(text.len() + 1);
        // The map works on single code points; composing first covers what it cannot see
        // (a letter followed by a combining accent).
        for c in text.nfc() {
            match self
                .normalised
                .binary_search_by_key(&(c as u32), |(cp, _)| *cp)
            {
                Ok(i) => {
                    let r = &self.normalised[i].1;
                    chars.extend_from_slice(&self.replacements[r.start as usize..r.end as usize]);
                }
                Err(_) => chars.push(c),
            }
        }
        chars.dedup_by(|a, b| *a == ' ' && *b == ' ');
        let mut out = String::with_capacity(chars.len() * 3 + 3);
        if chars.first() != Some(&' ') {
            out.push(METASPACE);
        }
        out.extend(chars.iter().map(|&c| if c == ' ' { METASPACE } else { c }));
        out
    }

    /// The piece ids of `text`, without `<s>`/`</s>`.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let normalised = self.normalise(text);
        let bytes = normalised.as_bytes();
        let starts: Vec<usize> = normalised
            .char_indices()
            .map(|(i, _)| i)
            .chain([bytes.len()])
            .collect();
        let n = starts.len() - 1;
        // best[e]: the best score of a segmentation of the first e characters, reached by
        // (piece or None for <unk>, from character).
        let mut best = vec![f32::NEG_INFINITY; n + 1];
        let mut step: Vec<(Option<usize>, usize)> = vec![(None, 0); n + 1];
        best[0] = 0.0;
        for i in 0..n {
            if best[i] == f32::NEG_INFINITY {
                continue;
            }
            for e in i + 1..=n {
                let span = &bytes[starts[i]..starts[e]];
                if span.len() > self.longest_piece {
                    break;
                }
                if let Some(p) = self.lookup(span).filter(|&p| p != self.unk as usize) {
                    let score = best[i] + self.scores[p];
                    if score > best[e] {
                        best[e] = score;
                        step[e] = (Some(p), i);
                    }
                }
            }
            let unknown = best[i] + self.unk_score;
            if unknown > best[i + 1] {
                best[i + 1] = unknown;
                step[i + 1] = (None, i);
            }
        }
        let mut ids = Vec::new();
        let mut e = n;
        while e > 0 {
            let (piece, from) = step[e];
            ids.push(piece.map_or(self.unk, |p| p as u32));
            e = from;
        }
        ids.reverse();
        ids
    }
}
