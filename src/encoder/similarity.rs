//! Similarity by meaning, for the checks and groupings that compare texts with each other
//! rather than with a shopper's message: near-duplicate FAQ questions
//! ([`crate::content::similar`]) and knowledge-gap groups ([`crate::insights::gaps`]).
//!
//! Data flow: texts → [`Reader`] of each (which model reads it, or none) → encoder vectors
//! ([`content_meanings`] through the content cache, [`transient_meanings`] for shoppers'
//! words, which are never written to disk) → [`dense_pairs`] above a threshold, or
//! [`leader_groups`] around running centres. Texts without a reader stay with the lexical
//! similarity of [`crate::nlu::similarity`].
//!
//! Why a reader per text: cosine scales differ per model. multilingual-e5 puts almost any two
//! Chinese sentences at 0.75–0.85, all-MiniLM-L6-v2 spreads English over −0.1–1, so one
//! threshold cannot serve both; each [`Reader`] carries its own, measured. And MiniLM does not
//! read Chinese (it sees single characters), so without multilingual-e5 Chinese text has no
//! reader and keeps the lexical checks.
//!
//! How the thresholds were chosen (`tests/dense_similarity.rs`,
//! `measure_thresholds_on_paraphrase_sets`, ignored; it reads `../shared/data/`):
//!
//! ```text
//! cargo test --test dense_similarity measure_thresholds -- --ignored --nocapture
//! ```
//!
//! It embeds the paraphrase clusters of BQ-FAQ (Chinese, e5: each FAQ question with the
//! shopper queries that ask it) and StackFAQ (English, MiniLM), and compares every pair of
//! texts of the same cluster with every pair of different clusters, then runs
//! [`leader_groups`] over the texts at each candidate threshold and scores the groups against
//! the clusters (B-cubed precision and recall). The sample `kb/` (each FAQ's question and
//! alternates) is measured the same way, as a shop's own content. The figures are beside each
//! threshold: [`Reader::near_duplicate`], [`Reader::near_duplicate_margin`],
//! [`Reader::same_group`] and [`Reader::nearest_faq`].

use std::sync::Arc;

use super::Encoder;
use super::model::{EncoderError, normalised};

/// Which model reads a text; it decides the cosine scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reader {
    /// A BERT-family model (all-MiniLM-L6-v2): English only.
    Bert,
    /// multilingual-e5-small: reads Chinese (and English).
    MultilingualE5,
}

impl Reader {
    /// Two phrasings of different FAQs at least this similar are flagged as near duplicates
    /// (with [`Reader::near_duplicate_margin`] where the model needs it).
    ///
    /// MiniLM, 0.88: on StackFAQ, with each FAQ's paraphrases split into two halves as if
    /// written twice, 101 of 125 such twins are flagged and none of the 31,000 pairs of
    /// different FAQs (pairs of texts: precision 1.000 at or above 0.88, 0.997 at 0.85); on
    /// the sample `kb/` in English, 1 twin of 42 and 1 of 3,444 different pairs.
    ///
    /// multilingual-e5, 0.91: its cosine alone cannot be precise. Same-FAQ pairs of the sample
    /// `kb/` in Chinese have a median of 0.895, different-FAQ pairs 0.855 with 1 % above 0.912;
    /// BQ-FAQ: 0.929 against 0.863, 1 % above 0.937. A threshold alone flags 381 of 3,444
    /// different pairs of the sample at 0.91 (42 of 42 twins), 15 at 0.95 (15 twins). Hence the
    /// margin; the threshold then only keeps unrelated texts out ("你们几点下班" / "怎么开发票"
    /// are at 0.83–0.85, "东西拿到手是坏的" / "收到的商品破损" at 0.915).
    pub fn near_duplicate(self) -> f32 {
        match self {
            Reader::Bert => 0.88,
            Reader::MultilingualE5 => 0.91,
        }
    }

    /// How much more similar two phrasings must be to each other than either is to any third
    /// FAQ ([`standout_pairs`]): a duplicate stands out from the rest of the KB, while
    /// multilingual-e5 puts the rest high too. With 0.03 (at 0.88–0.91 alike): 11 of the 42
    /// twins of the sample `kb/` in Chinese and 2 of its 3,444 different pairs are flagged;
    /// BQ-FAQ, 12 of 333 twins and 22 of 859,683 different pairs (0.02: 15 twins and 5
    /// different pairs; 0.04: 3 and 1). MiniLM needs none.
    pub fn near_duplicate_margin(self) -> Option<f32> {
        match self {
            Reader::Bert => None,
            Reader::MultilingualE5 => Some(0.03),
        }
    }

    /// A question at least this similar to a gap group's centre joins it.
    ///
    /// B-cubed F1 of [`leader_groups`] against the paraphrase clusters, questions in a fixed
    /// shuffled order. MiniLM, 0.55: StackFAQ 0.839 (best 0.877 at 0.63), sample `kb/` in
    /// English 0.473 (best 0.492 at 0.47). multilingual-e5, 0.91: sample `kb/` in Chinese 0.381
    /// (precision 0.275, recall 0.621; best 0.452 at 0.92, which would part
    /// "东西拿到手是坏的" / "收到的商品破损" at 0.915). On BQ-FAQ, one narrow domain (loans),
    /// 0.91 merges too much (68 groups for 979 clusters, F1 0.085; best 0.470 at 0.96).
    pub fn same_group(self) -> f32 {
        match self {
            Reader::Bert => 0.55,
            Reader::MultilingualE5 => 0.91,
        }
    }

    /// A FAQ is named as nearest to a gap group when at least this similar to it.
    ///
    /// Each query's most similar FAQ question: MiniLM, 0.5: StackFAQ names one for 96 % of
    /// queries, right for 95.5 % of them; sample `kb/` in English 63 %, 75 % right.
    /// multilingual-e5, 0.90: sample `kb/` in Chinese 69 %, 70.5 % right (at 0.85 every query
    /// gets one, 61.5 % right); BQ-FAQ 99.5 %, 16.6 % right (its 4,153 FAQs are near each other).
    pub fn nearest_faq(self) -> f32 {
        match self {
            Reader::Bert => 0.5,
            Reader::MultilingualE5 => 0.90,
        }
    }
}

/// A text's vector and the model that read it.
#[derive(Debug, Clone)]
pub struct Meaning {
    pub reader: Reader,
    pub vector: Arc<[f32]>,
}

/// The meaning of each content text (FAQ phrasings): vectors through the content cache, so
/// phrasings the FAQ index embedded come back at once. `None` for texts no model reads.
pub fn content_meanings(
    encoder: &Encoder,
    texts: &[&str],
) -> Result<Vec<Option<Meaning>>, EncoderError> {
    meanings(encoder, texts, |t| encoder.embed_content(t))
}

/// The meaning of each of shoppers' texts, never written to the content cache.
pub fn transient_meanings(
    encoder: &Encoder,
    texts: &[&str],
) -> Result<Vec<Option<Meaning>>, EncoderError> {
    meanings(encoder, texts, |t| encoder.embed_transient(t))
}

fn meanings(
    encoder: &Encoder,
    texts: &[&str],
    embed: impl FnOnce(&[&str]) -> Result<Vec<Arc<[f32]>>, EncoderError>,
) -> Result<Vec<Option<Meaning>>, EncoderError> {
    let readers: Vec<Option<Reader>> = texts.iter().map(|t| encoder.model.reader_of(t)).collect();
    let read: Vec<&str> = texts
        .iter()
        .zip(&readers)
        .filter(|(_, r)| r.is_some())
        .map(|(t, _)| *t)
        .collect();
    let mut vectors = embed(&read)?.into_iter();
    Ok(readers
        .into_iter()
        .map(|reader| {
            let reader = reader?;
            vectors.next().map(|vector| Meaning { reader, vector })
        })
        .collect())
}

/// Cosine similarity of two unit vectors.
pub use super::model::dot as cosine;

/// Every pair `(i, j)`, `i < j`, of `vectors` with cosine ≥ `threshold` that `keep(i, j)`
/// accepts, most similar first (then by index), like the lexical
/// [`crate::nlu::similarity::similar_pairs`]. Exact: every pair is compared, which is why
/// callers bound how many vectors they pass.
pub fn dense_pairs(
    vectors: &[&[f32]],
    threshold: f32,
    keep: impl Fn(usize, usize) -> bool,
) -> Vec<(usize, usize, f32)> {
    let mut pairs = Vec::new();
    for (i, a) in vectors.iter().enumerate() {
        for (j, b) in vectors.iter().enumerate().skip(i + 1) {
            if keep(i, j) {
                let s = cosine(a, b);
                if s >= threshold {
                    pairs.push((i, j, s));
                }
            }
        }
    }
    pairs.sort_by(|a, b| b.2.total_cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
    pairs
}

/// Like [`dense_pairs`], keeping only pairs that stand out: at least `margin` more similar
/// than either vector is to any vector of a third group (`group[i]` is the group of vector
/// `i`, an FAQ; the pair's own two groups do not count). Groups compared are those `keep`
/// accepts. One pass over every pair: each vector remembers its two most similar groups.
pub fn standout_pairs(
    vectors: &[&[f32]],
    group: &[usize],
    threshold: f32,
    margin: f32,
    keep: impl Fn(usize, usize) -> bool,
) -> Vec<(usize, usize, f32)> {
    let mut closest = vec![TwoClosest::default(); vectors.len()];
    let mut pairs = Vec::new();
    for (i, a) in vectors.iter().enumerate() {
        for (j, b) in vectors.iter().enumerate().skip(i + 1) {
            if !keep(i, j) {
                continue;
            }
            let s = cosine(a, b);
            closest[i].offer(group[j], s);
            closest[j].offer(group[i], s);
            if s >= threshold {
                pairs.push((i, j, s));
            }
        }
    }
    pairs.retain(|&(i, j, s)| {
        let third = closest[i]
            .besides(group[j])
            .max(closest[j].besides(group[i]));
        s - third >= margin
    });
    pairs.sort_by(|a, b| b.2.total_cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
    pairs
}

/// The two groups most similar to one vector, each with its best similarity.
#[derive(Debug, Clone, Copy)]
struct TwoClosest([(usize, f32); 2]);

impl Default for TwoClosest {
    fn default() -> Self {
        TwoClosest([(usize::MAX, f32::NEG_INFINITY); 2])
    }
}

impl TwoClosest {
    /// A group's similarity only grows, so keeping the two best maxima seen is exact.
    fn offer(&mut self, group: usize, s: f32) {
        let top = &mut self.0;
        if let Some(slot) = top.iter_mut().find(|(g, _)| *g == group) {
            slot.1 = slot.1.max(s);
        } else if s > top[1].1 {
            top[1] = (group, s);
        }
        if top[1].1 > top[0].1 {
            top.swap(0, 1);
        }
    }

    /// The best similarity to a group other than `group` (−∞ when there is none).
    fn besides(&self, group: usize) -> f32 {
        if self.0[0].0 == group {
            self.0[1].1
        } else {
            self.0[0].1
        }
    }
}

/// Groups vectors in the order given (pass the most representative first): each joins the
/// group whose centre (the normalised sum of its members) is most similar to it, when at
/// least `threshold`, and otherwise starts a group; on a tie the older group wins. The same
/// procedure as the lexical [`crate::nlu::similarity::group`], so a switch of similarity does
/// not reorder groups. Returns the members of each group, by index.
pub fn leader_groups(vectors: &[&[f32]], threshold: f32) -> Vec<Vec<usize>> {
    struct Group {
        members: Vec<usize>,
        sum: Vec<f32>,
        centre: Vec<f32>,
    }
    let mut groups: Vec<Group> = Vec::new();
    for (i, v) in vectors.iter().enumerate() {
        let mut best: Option<(usize, f32)> = None;
        for (g, group) in groups.iter().enumerate() {
            let s = cosine(&group.centre, v);
            if s >= threshold && best.is_none_or(|(_, b)| s > b) {
                best = Some((g, s));
            }
        }
        match best {
            Some((g, _)) => {
                let group = &mut groups[g];
                group.members.push(i);
                for (s, x) in group.sum.iter_mut().zip(v.iter()) {
                    *s += x;
                }
                group.centre = normalised(&group.sum);
            }
            None => groups.push(Group {
                members: vec![i],
                sum: v.to_vec(),
                centre: normalised(v),
            }),
        }
    }
    groups.into_iter().map(|g| g.members).collect()
}

/// The normalised sum of `vectors`: a group's centre.
pub fn centroid<'a>(vectors: impl IntoIterator<Item = &'a [f32]>) -> Vec<f32> {
    let mut sum: Vec<f32> = Vec::new();
    for v in vectors {
        if sum.is_empty() {
            sum = vec![0.0; v.len()];
        }
        for (s, x) in sum.iter_mut().zip(v) {
            *s += x;
        }
    }
    normalised(&sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        normalised(v)
    }

    #[test]
    fn cosine_matches_the_plain_dot_product_at_any_length() {
        for n in [1, 7, 8, 9, 384] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((cosine(&a, &b) - plain).abs() < 1e-4, "length {n}");
        }
    }

    #[test]
    fn pairs_above_the_threshold_most_similar_first() {
        let v = [
            unit(&[1.0, 0.0, 0.0]),
            unit(&[0.96, 0.28, 0.0]),
            unit(&[0.0, 0.0, 1.0]),
            unit(&[0.99, 0.0, 0.141]),
        ];
        let refs: Vec<&[f32]> = v.iter().map(Vec::as_slice).collect();
        let pairs = dense_pairs(&refs, 0.9, |_, _| true);
        let found: Vec<(usize, usize)> = pairs.iter().map(|p| (p.0, p.1)).collect();
        assert_eq!(found, vec![(0, 3), (0, 1), (1, 3)], "{pairs:?}");
        assert!(pairs.windows(2).all(|w| w[0].2 >= w[1].2));
        let kept = dense_pairs(&refs, 0.9, |i, _| i != 0);
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert!(dense_pairs(&refs, 0.999, |_, _| true).is_empty());
    }

    #[test]
    fn leader_groups_join_the_closest_centre_in_order() {
        let v = [
            unit(&[1.0, 0.1, 0.0]),
            unit(&[0.0, 1.0, 0.05]),
            unit(&[0.95, 0.2, 0.0]),
            unit(&[0.1, 0.97, 0.0]),
            unit(&[0.0, 0.0, 1.0]),
            // Between the first two groups but closer to the second.
            unit(&[0.5, 0.7, 0.0]),
        ];
        let refs: Vec<&[f32]> = v.iter().map(Vec::as_slice).collect();
        assert_eq!(
            leader_groups(&refs, 0.8),
            vec![vec![0, 2], vec![1, 3, 5], vec![4]]
        );
        // A threshold nothing reaches leaves every vector alone; a low one joins all.
        assert_eq!(leader_groups(&refs, 1.01).len(), v.len());
        assert_eq!(leader_groups(&refs, -1.0), vec![vec![0, 1, 2, 3, 4, 5]]);
    }

    #[test]
    fn a_tie_goes_to_the_older_group() {
        let v = [unit(&[1.0, 0.0]), unit(&[0.0, 1.0]), unit(&[1.0, 1.0])];
        let refs: Vec<&[f32]> = v.iter().map(Vec::as_slice).collect();
        assert_eq!(leader_groups(&refs, 0.5), vec![vec![0, 2], vec![1]]);
    }

    #[test]
    fn centroid_is_the_normalised_sum() {
        let a = unit(&[1.0, 0.0]);
        let b = unit(&[0.0, 1.0]);
        let c = centroid([a.as_slice(), b.as_slice()]);
        assert!((c[0] - c[1]).abs() < 1e-6 && (cosine(&c, &c) - 1.0).abs() < 1e-6);
        assert!(centroid(std::iter::empty::<&[f32]>()).is_empty());
    }

    #[test]
    fn each_model_has_its_own_scale() {
        for r in [Reader::Bert, Reader::MultilingualE5] {
            assert!(r.near_duplicate() >= r.same_group(), "{r:?}");
            assert!(r.same_group() >= r.nearest_faq(), "{r:?}");
        }
        // e5 packs unrelated Chinese sentences high, so it needs the higher bars.
        assert!(Reader::MultilingualE5.same_group() > Reader::Bert.same_group());
        assert!(Reader::MultilingualE5.near_duplicate_margin().is_some());
    }

    #[test]
    fn only_pairs_that_stand_out_from_third_groups_are_kept() {
        // Groups: 0 = {a}, 1 = {b}, 2 = {c}, 3 = {d}. a and b at 0.95; c is 0.94 to a, so
        // a–b does not stand out by 0.03; d is far from everything.
        let v = [
            unit(&[1.0, 0.0, 0.0]),
            unit(&[0.95, 0.312, 0.0]),
            unit(&[0.94, -0.341, 0.0]),
            unit(&[0.0, 0.0, 1.0]),
        ];
        let refs: Vec<&[f32]> = v.iter().map(Vec::as_slice).collect();
        let all = |_: usize, _: usize| true;
        assert!(standout_pairs(&refs, &[0, 1, 2, 3], 0.9, 0.03, all).is_empty());
        // Without c as a third group (c belongs to b's FAQ) the pair stands out.
        let pairs = standout_pairs(&refs, &[0, 1, 1, 3], 0.9, 0.03, |i, j| [i, j] != [1, 2]);
        let found: Vec<(usize, usize)> = pairs.iter().map(|p| (p.0, p.1)).collect();
        assert_eq!(found, vec![(0, 1), (0, 2)], "{pairs:?}");
        // A margin of zero keeps what the threshold alone keeps, when nothing else is near.
        let two = &refs[..2];
        assert_eq!(standout_pairs(two, &[0, 1], 0.9, 0.0, all).len(), 1);
    }

    #[test]
    fn two_closest_groups_are_kept_exactly() {
        let mut c = TwoClosest::default();
        for (g, s) in [(1, 0.2), (2, 0.5), (3, 0.4), (1, 0.6), (3, 0.1), (4, 0.3)] {
            c.offer(g, s);
        }
        assert_eq!(c.besides(1), 0.5);
        assert_eq!(c.besides(2), 0.6);
        assert_eq!(c.besides(9), 0.6);
        assert_eq!(TwoClosest::default().besides(1), f32::NEG_INFINITY);
    }
}
