//! Dense FAQ matching: every FAQ phrasing (question and alternates) as an encoder vector, and
//! a query's best cosine similarity per FAQ.
//!
//! The vectors sit in one row-major matrix with the FAQ each row belongs to, so scoring a
//! query is one pass of dot products. Brute force is exact and, for the KBs a shop keeps
//! (hundreds to a few thousand FAQs, ~8 phrasings each), a fraction of the encoder's own time.
//!
//! [`CenteredFaqs`] is the same over vectors with their mean taken away. The multilingual model
//! puts almost any two Chinese questions at cosine 0.75–0.95 (all its vectors lean one way);
//! measured from the KB's own phrasings, removing that shared direction spreads similarities
//! out and ranks better (BQ-FAQ recall@5 0.259 → 0.267 on dense similarity alone, 0.270 →
//! 0.281 fused with BM25; `baton eval kb`).
//!
//! It also corrects for hubs, as cross-domain similarity local scaling (CSLS) does: a phrasing
//! that sits among many look-alikes is close to every query in its neighbourhood, so its
//! similarity is discounted by half its mean similarity to its nearest phrasings of other
//! FAQs. Among look-alike distractors this is what picks the right one (BQ-FAQ fused
//! recall@1 0.095 → 0.101, recall@5 0.280 → 0.283, MRR 0.174 → 0.180).

use std::sync::Arc;

use crate::encoder::{dot, normalised};

/// Phrasing vectors of a KB.
#[derive(Debug)]
pub struct DenseFaqs {
    dim: usize,
    matrix: Vec<f32>,
    /// FAQ index (the order of the KB) of each row.
    owner: Vec<u32>,
    /// What each row's similarity is discounted by (all zero unless hub-corrected).
    discount: Vec<f32>,
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
            discount: vec![0.0; owner.len()],
            matrix,
            owner,
            faqs: phrasings.len(),
        }
    }

    /// The same rows, each discounted by [`HUB_DISCOUNT`] times its [`hubness`].
    fn discounting_hubs(mut self) -> DenseFaqs {
        self.discount = hubness(&self)
            .into_iter()
            .map(|h| HUB_DISCOUNT * h)
            .collect();
        self
    }

    fn rows(&self) -> std::slice::ChunksExact<'_, f32> {
        self.matrix.chunks_exact(self.dim.max(1))
    }

    /// For each FAQ, the highest cosine similarity between `query` and one of its phrasings,
    /// less that phrasing's discount (−1 for a FAQ without vectors).
    pub fn best_per_faq(&self, query: &[f32]) -> Vec<f32> {
        let mut best = vec![-1.0f32; self.faqs];
        if query.len() != self.dim || self.dim == 0 {
            return best;
        }
        for ((row, &faq), discount) in self.rows().zip(&self.owner).zip(&self.discount) {
            let s = dot(row, query) - discount;
            let b = &mut best[faq as usize];
            if s > *b {
                *b = s;
            }
        }
        best
    }
}

/// Phrasing vectors centred on their own mean (see the module doc).
#[derive(Debug)]
pub struct CenteredFaqs {
    mean: Vec<f32>,
    centered: DenseFaqs,
}

impl CenteredFaqs {
    /// `phrasings[i]` are FAQ `i`'s vectors to compare (possibly none); `None` when there are
    /// too few to say where their centre is.
    pub fn new(phrasings: &[Vec<Arc<[f32]>>]) -> Option<CenteredFaqs> {
        const MIN_ROWS: usize = 20;
        let rows: Vec<&Arc<[f32]>> = phrasings.iter().flatten().collect();
        let dim = rows.first()?.len();
        let rows: Vec<_> = rows.into_iter().filter(|r| r.len() == dim).collect();
        if rows.len() < MIN_ROWS {
            return None;
        }
        let mut mean = vec![0.0f32; dim];
        for row in &rows {
            for (m, x) in mean.iter_mut().zip(row.iter()) {
                *m += x;
            }
        }
        let n = rows.len() as f32;
        mean.iter_mut().for_each(|m| *m /= n);
        let centered: Vec<Vec<Arc<[f32]>>> = phrasings
            .iter()
            .map(|vs| {
                vs.iter()
                    .filter(|v| v.len() == dim)
                    .map(|v| Arc::from(center(v, &mean)))
                    .collect()
            })
            .collect();
        Some(CenteredFaqs {
            centered: DenseFaqs::new(&centered).discounting_hubs(),
            mean,
        })
    }

    /// For each FAQ, the best centred cosine between `query` and its phrasings (−1 without).
    pub fn best_per_faq(&self, query: &[f32]) -> Vec<f32> {
        if query.len() != self.mean.len() {
            return vec![-1.0; self.centered.faqs];
        }
        self.centered.best_per_faq(&center(query, &self.mean))
    }
}

/// CSLS's weight on a phrasing's neighbourhood: its score is `2·cos − r`, halved.
const HUB_DISCOUNT: f32 = 0.5;
/// How many nearest phrasings of other FAQs make a phrasing's neighbourhood (CSLS's usual k).
const HUB_NEIGHBOURS: usize = 10;
/// The most rows a neighbourhood is searched in. Finding every row's neighbours is quadratic;
/// past this, an even sample of the rows stands in, with k scaled down to match, so the cost
/// grows linearly with the KB (BQ-FAQ's 4,153 rows: 1.5 s for the whole index build).
const HUB_POOL: usize = 8_192;

/// Each row's mean similarity to its nearest rows of other FAQs (CSLS's `r`), on every core:
/// at the pool's limit a 70,000-phrasing KB is 70,000 × 8,192 dot products.
fn hubness(faqs: &DenseFaqs) -> Vec<f32> {
    let rows: Vec<&[f32]> = faqs.rows().collect();
    let n = rows.len();
    let stride = n.div_ceil(HUB_POOL).max(1);
    let pool: Vec<usize> = (0..n).step_by(stride).collect();
    let k = (HUB_NEIGHBOURS * pool.len()).div_ceil(n.max(1)).max(1);
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let chunk = n.div_ceil(threads).max(1);
    let found: Vec<f32> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..n)
            .step_by(chunk)
            .map(|start| {
                let part = start..(start + chunk).min(n);
                let (rows, pool) = (&rows, &pool);
                scope.spawn(move || nearest_mean(part, rows, &faqs.owner, pool, k))
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    // A worker that died leaves no discount rather than discounts on the wrong rows.
    if found.len() == n {
        found
    } else {
        vec![0.0; n]
    }
}

/// For each row in `part`, the mean of its `k` best similarities to `pool` rows of other FAQs.
fn nearest_mean(
    part: std::ops::Range<usize>,
    rows: &[&[f32]],
    owner_of: &[u32],
    pool: &[usize],
    k: usize,
) -> Vec<f32> {
    part.map(|i| {
        let (row, owner) = (rows[i], &owner_of[i]);
        // The k best so far, ascending; a handful of entries, so insertion is cheapest.
        let mut nearest: Vec<f32> = Vec::with_capacity(k + 1);
        for &j in pool {
            if owner_of[j] == *owner {
                continue;
            }
            let s = dot(row, rows[j]);
            if nearest.len() < k || s > nearest[0] {
                let at = nearest.partition_point(|x| *x < s);
                nearest.insert(at, s);
                if nearest.len() > k {
                    nearest.remove(0);
                }
            }
        }
        if nearest.is_empty() {
            0.0
        } else {
            nearest.iter().sum::<f32>() / nearest.len() as f32
        }
    })
    .collect()
}

/// `v − mean`, L2-normalised.
fn center(v: &[f32], mean: &[f32]) -> Vec<f32> {
    let difference: Vec<f32> = v.iter().zip(mean).map(|(x, m)| x - m).collect();
    normalised(&difference)
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

    #[test]
    fn centring_separates_vectors_that_lean_the_same_way() {
        // Every vector leans along the first axis, as the multilingual model's do.
        let lean = |x: f32, y: f32| -> Arc<[f32]> { Arc::from(normalised(&[1.0, x, y])) };
        let faqs: Vec<Vec<Arc<[f32]>>> = (0..30)
            .map(|i| {
                let angle = i as f32 * 0.2;
                vec![lean(0.3 * angle.cos(), 0.3 * angle.sin())]
            })
            .collect();
        let raw = DenseFaqs::new(&faqs).best_per_faq(&faqs[0][0]);
        let centered = CenteredFaqs::new(&faqs).expect("enough rows");
        let spread = centered.best_per_faq(&faqs[0][0]);
        // Raw cosines are all high; centred ones span agreement to opposition.
        assert!(raw.iter().all(|s| *s > 0.8));
        let best = spread.iter().copied().fold(f32::MIN, f32::max);
        assert_eq!(spread[0], best);
        assert!(spread.iter().any(|s| *s < -0.5));
        assert!(CenteredFaqs::new(&faqs[..3]).is_none());
    }

    #[test]
    fn a_phrasing_among_look_alikes_is_discounted() {
        // Twenty FAQs spread around a circle, and a tight cluster of five look-alikes.
        let unit = |angle: f32| -> Arc<[f32]> { Arc::from(vec![angle.cos(), angle.sin()]) };
        let mut faqs: Vec<Vec<Arc<[f32]>>> =
            (0..20).map(|i| vec![unit(i as f32 * 0.314)]).collect();
        faqs.extend((0..5).map(|i| vec![unit(1.0 + i as f32 * 0.01)]));
        let dense = DenseFaqs::new(&faqs);
        let r = hubness(&dense);
        let lonely = r[10];
        assert!(r[20..].iter().all(|h| *h > lonely + 0.01), "{r:?}");
        // A query equally close to a lonely FAQ and to a look-alike prefers the lonely one.
        let discounted = DenseFaqs::new(&faqs).discounting_hubs();
        let query = [1.01f32.cos(), 1.01f32.sin()];
        let raw = dense.best_per_faq(&query);
        let fixed = discounted.best_per_faq(&query);
        assert!(raw[21] > raw[3]);
        assert!(fixed[21] - fixed[3] < raw[21] - raw[3]);
    }
}
