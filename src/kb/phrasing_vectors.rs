//! Dense FAQ matching: every FAQ phrasing (question and alternates) as an encoder vector, and
//! a query's best cosine similarity per FAQ.
//!
//! The vectors sit in one row-major matrix with the FAQ each row belongs to, so scoring a
//! query is one pass of dot products. Brute force is exact and, for the KBs a shop keeps
//! (hundreds to a few thousand FAQs, ~8 phrasings each), a fraction of the encoder's own time.

use std::sync::Arc;

use crate::encoder::dot;

/// Phrasing vectors of a KB.
#[derive(Debug)]
pub struct DenseFaqs {
    dim: usize,
    matrix: Vec<f32>,
    /// FAQ index (the order of the KB) of each row.
    owner: Vec<u32>,
    faqs: usize,
}

impl DenseFaqs {
    /// `phrasings[i]` are the vectors of FAQ `i`'s question and alternates.
    pub fn new(phrasings: &[Vec<Arc<[f32]>>]) -> DenseFaqs {
        let dim = phrasings
            .iter()
            .flatten()
            .map(|v| v.len())
            .next()
            .unwrap_or(0);
        let mut matrix = Vec::new();
        let mut owner = Vec::new();
        for (faq, vectors) in phrasings.iter().enumerate() {
            for v in vectors.iter().filter(|v| v.len() == dim) {
                matrix.extend_from_slice(v);
                owner.push(faq as u32);
            }
        }
        DenseFaqs {
            dim,
            matrix,
            owner,
            faqs: phrasings.len(),
        }
    }

    /// For each FAQ, the highest cosine similarity between `query` and one of its phrasings
    /// (−1 for a FAQ without vectors).
    pub fn best_per_faq(&self, query: &[f32]) -> Vec<f32> {
        let mut best = vec![-1.0f32; self.faqs];
        if query.len() != self.dim || self.dim == 0 {
            return best;
        }
        for (row, &faq) in self.matrix.chunks_exact(self.dim).zip(&self.owner) {
            let s = dot(row, query);
            let b = &mut best[faq as usize];
            if s > *b {
                *b = s;
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_phrasing_wins_per_faq() {
        let v = |x: &[f32]| -> Arc<[f32]> { Arc::from(x.to_vec()) };
        let dense = DenseFaqs::new(&[
            vec![v(&[1.0, 0.0]), v(&[0.0, 1.0])],
            vec![v(&[0.6, 0.8])],
            vec![],
        ]);
        let best = dense.best_per_faq(&[0.0, 1.0]);
        assert_eq!(best, vec![1.0, 0.8, -1.0]);
        assert_eq!(dense.best_per_faq(&[1.0]), vec![-1.0; 3]);
    }
}
