//! Lexical similarity of short texts (questions, example utterances, shopper messages), for
//! the checks and groupings that must work without a model: near-duplicate FAQ questions,
//! examples that sit closer to another intent, and grouping unanswered questions.
//!
//! Texts are normalised, stripped of function words ("can I", "吗") and turned into the classifier's hashed n-gram features (character
//! n-grams for Chinese, words and character n-grams for latin script), weighted by TF-IDF
//! over the texts being compared and L2-normalised, so the cosine of two vectors is their
//! dot product. [`similar_pairs`] finds all pairs above a threshold without comparing every
//! pair: an inverted index over the rarer features proposes candidates, which are then
//! scored exactly.

use std::collections::HashMap;

use crate::nlu::features::hashed_features;
use crate::nlu::normalize;

/// Feature space size: large enough that hash collisions do not matter for similarity.
const BUCKETS: u32 = 1 << 22;

/// A sparse, L2-normalised TF-IDF vector: (feature, weight), sorted by feature.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SparseVec(Vec<(u32, f32)>);

impl SparseVec {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// (feature, weight) pairs, by feature.
    pub fn entries(&self) -> impl Iterator<Item = (u32, f32)> + '_ {
        self.0.iter().copied()
    }

    /// Cosine similarity (both are unit vectors).
    pub fn cosine(&self, other: &SparseVec) -> f32 {
        let (mut i, mut j, mut dot) = (0, 0, 0.0);
        while i < self.0.len() && j < other.0.len() {
            let (fa, wa) = self.0[i];
            let (fb, wb) = other.0[j];
            match fa.cmp(&fb) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    dot += wa * wb;
                    i += 1;
                    j += 1;
                }
            }
        }
        dot
    }

    /// The normalised sum of `vectors`: a group's centre.
    pub fn centroid<'a>(vectors: impl IntoIterator<Item = &'a SparseVec>) -> SparseVec {
        let mut sum: HashMap<u32, f32> = HashMap::new();
        for v in vectors {
            for &(f, w) in &v.0 {
                *sum.entry(f).or_default() += w;
            }
        }
        SparseVec::from_weights(sum.into_iter().collect())
    }

    fn from_weights(mut weights: Vec<(u32, f32)>) -> SparseVec {
        let norm = weights.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
        if norm == 0.0 {
            return SparseVec::default();
        }
        for (_, w) in &mut weights {
            *w /= norm;
        }
        weights.sort_unstable_by_key(|(f, _)| *f);
        SparseVec(weights)
    }
}

/// English function words: they make "can I pay with paypal" look like "can I cancel my
/// order" and say nothing about the topic.
const STOP_WORDS: &[&str] = &[
    "a", "an", "the", "i", "me", "my", "you", "your", "we", "our", "us", "it", "its", "is", "are",
    "am", "be", "was", "were", "do", "does", "did", "can", "could", "would", "will", "should",
    "to", "of", "in", "on", "for", "with", "and", "or", "at", "by", "from", "this", "that",
    "there", "please", "pls", "any", "have", "has", "possible", "just", "so",
];

/// Chinese particles and pronouns, dropped character by character for the same reason.
const STOP_CHARS: &[char] = &[
    '我', '你', '您', '的', '了', '吗', '呢', '吧', '啊', '呀', '么', '请', '们', '嘛',
];

/// `text` normalised, without function words.
fn content_words(text: &str) -> String {
    normalize(text)
        .split_whitespace()
        .filter(|w| !STOP_WORDS.contains(w))
        // Digits too: order numbers and times say nothing about the topic ("88" is not "24/7").
        .map(|w| {
            w.chars()
                .filter(|c| !STOP_CHARS.contains(c) && !c.is_ascii_digit())
                .collect::<String>()
        })
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Term counts of one text's features.
fn counts(text: &str, scratch: &mut Vec<u32>) -> Vec<(u32, f32)> {
    hashed_features(&content_words(text), BUCKETS, scratch);
    scratch.sort_unstable();
    let mut out: Vec<(u32, f32)> = Vec::with_capacity(scratch.len());
    for &f in scratch.iter() {
        match out.last_mut() {
            Some((last, c)) if *last == f => *c += 1.0,
            _ => out.push((f, 1.0)),
        }
    }
    out
}

/// IDF weights learnt from a set of texts; turns texts into comparable vectors.
#[derive(Debug, Clone, Default)]
pub struct Vectorizer {
    idf: HashMap<u32, f32>,
    /// The weight of a feature none of the fitted texts had.
    unseen_idf: f32,
}

impl Vectorizer {
    /// Fits IDF on `texts` and returns their vectors with it.
    pub fn fit<S: AsRef<str>>(texts: &[S]) -> (Vectorizer, Vec<SparseVec>) {
        let mut scratch = Vec::new();
        let all_counts: Vec<Vec<(u32, f32)>> = texts
            .iter()
            .map(|t| counts(t.as_ref(), &mut scratch))
            .collect();
        let mut df: HashMap<u32, u32> = HashMap::new();
        for c in &all_counts {
            for &(f, _) in c {
                *df.entry(f).or_default() += 1;
            }
        }
        let n = texts.len() as f32;
        let idf = df
            .into_iter()
            .map(|(f, d)| (f, ((n + 1.0) / (d as f32 + 1.0)).ln() + 1.0))
            .collect();
        let v = Vectorizer {
            idf,
            unseen_idf: (n + 1.0).ln() + 1.0,
        };
        let vectors = all_counts.into_iter().map(|c| v.weigh(c)).collect();
        (v, vectors)
    }

    /// The vector of a text under the fitted IDF.
    pub fn vector(&self, text: &str) -> SparseVec {
        self.weigh(counts(text, &mut Vec::new()))
    }

    fn weigh(&self, counts: Vec<(u32, f32)>) -> SparseVec {
        SparseVec::from_weights(
            counts
                .into_iter()
                .map(|(f, c)| {
                    let idf = self.idf.get(&f).copied().unwrap_or(self.unseen_idf);
                    (f, (1.0 + c.ln()) * idf)
                })
                .collect(),
        )
    }
}

/// Every pair `(i, j)`, `i < j`, with cosine ≥ `threshold` that `keep(i, j)` accepts, with
/// its similarity, most similar first.
///
/// Candidates come from an inverted index over each vector's few heaviest features (its
/// rarest n-grams): two texts similar enough to matter share some of them, while common
/// n-grams would make the index quadratic. Features carried by more than
/// `max(100, n / 100)` texts are not indexed at all. Candidates are then scored exactly. Meant
/// for high thresholds (near-duplicates); low-similarity pairs may be missed.
pub fn similar_pairs(
    vectors: &[SparseVec],
    threshold: f32,
    keep: impl Fn(usize, usize) -> bool,
) -> Vec<(usize, usize, f32)> {
    const HEAVIEST: usize = 8;
    let mut df: HashMap<u32, u32> = HashMap::new();
    for v in vectors {
        for &(f, _) in &v.0 {
            *df.entry(f).or_default() += 1;
        }
    }
    let limit = (vectors.len() / 100).max(100) as u32;
    let mut postings: HashMap<u32, Vec<u32>> = HashMap::new();
    let mut pairs = Vec::new();
    let mut seen: Vec<u32> = vec![u32::MAX; vectors.len()];
    let mut heaviest: Vec<(u32, f32)> = Vec::with_capacity(64);
    for (i, v) in vectors.iter().enumerate() {
        heaviest.clear();
        heaviest.extend(
            v.0.iter()
                .copied()
                .filter(|(f, _)| df.get(f).copied().unwrap_or(0) <= limit),
        );
        heaviest.sort_unstable_by(|a, b| b.1.total_cmp(&a.1));
        heaviest.truncate(HEAVIEST);
        for &(f, _) in &heaviest {
            let list = postings.entry(f).or_default();
            for &j in list.iter() {
                let j = j as usize;
                if seen[j] == i as u32 {
                    continue;
                }
                seen[j] = i as u32;
                if keep(j, i) {
                    let s = vectors[j].cosine(v);
                    if s >= threshold {
                        pairs.push((j, i, s));
                    }
                }
            }
            list.push(i as u32);
        }
    }
    pairs.sort_by(|a, b| b.2.total_cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
    pairs
}

/// Groups texts whose vectors are within `threshold` of a group's centre, in the order
/// given (so pass the most representative texts first): each text joins the most similar
/// existing group or starts a new one. Returns the members of each group, by index.
///
/// Only groups that share a feature with a text are compared with it (an index from feature
/// to groups); features found in more than 50 groups are too common to propose candidates,
/// so the work grows with the number of texts, not texts × groups.
pub fn group(vectors: &[SparseVec], threshold: f32) -> Vec<Vec<usize>> {
    const MAX_FANOUT: usize = 50;
    struct Group {
        members: Vec<usize>,
        sum: HashMap<u32, f32>,
        centre: SparseVec,
    }
    let mut groups: Vec<Group> = Vec::new();
    let mut by_feature: HashMap<u32, Vec<usize>> = HashMap::new();
    let mut stamp: Vec<usize> = Vec::new();
    for (i, v) in vectors.iter().enumerate() {
        let mut best: Option<(usize, f32)> = None;
        for (f, _) in v.entries() {
            let Some(list) = by_feature.get(&f).filter(|l| l.len() <= MAX_FANOUT) else {
                continue;
            };
            for &g in list {
                if stamp[g] == i + 1 {
                    continue;
                }
                stamp[g] = i + 1;
                let sim = groups[g].centre.cosine(v);
                if sim >= threshold && best.is_none_or(|(_, b)| sim > b) {
                    best = Some((g, sim));
                }
            }
        }
        let g = match best {
            Some((g, _)) => {
                groups[g].members.push(i);
                g
            }
            None => {
                groups.push(Group {
                    members: vec![i],
                    sum: HashMap::new(),
                    centre: SparseVec::default(),
                });
                stamp.push(0);
                groups.len() - 1
            }
        };
        let group = &mut groups[g];
        for (f, w) in v.entries() {
            let weight = group.sum.entry(f).or_default();
            if *weight == 0.0 {
                by_feature.entry(f).or_default().push(g);
            }
            *weight += w;
        }
        group.centre = SparseVec::from_weights(group.sum.iter().map(|(f, w)| (*f, *w)).collect());
    }
    groups.into_iter().map(|g| g.members).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_texts_are_one_and_unrelated_ones_near_zero() {
        let (_, v) = Vectorizer::fit(&[
            "How do I cancel my order?",
            "how do i cancel my order",
            "怎么开发票",
            "Which couriers deliver to Hong Kong?",
        ]);
        assert!((v[0].cosine(&v[1]) - 1.0).abs() < 1e-5);
        assert!(v[0].cosine(&v[2]) < 0.01);
        assert!(v[0].cosine(&v[3]) < 0.3);
    }

    #[test]
    fn finds_near_duplicates_without_comparing_everything() {
        let mut texts: Vec<String> = (0..300)
            .map(|i| format!("question number {i} about topic t{i}x"))
            .collect();
        texts.push("How can I cancel an order I just placed?".into());
        texts.push("how can i cancel the order i just placed".into());
        texts.push("怎么取消刚下的订单".into());
        texts.push("怎么取消刚刚下的订单".into());
        let (_, v) = Vectorizer::fit(&texts);
        let pairs = similar_pairs(&v, 0.7, |_, _| true);
        let found: Vec<(usize, usize)> = pairs.iter().map(|p| (p.0, p.1)).collect();
        assert!(found.contains(&(300, 301)), "{pairs:?}");
        assert!(found.contains(&(302, 303)), "{pairs:?}");
        assert!(pairs.iter().all(|p| p.2 >= 0.7));
        let none = similar_pairs(&v, 0.7, |i, _| i != 300 && i != 302);
        assert!(!none.iter().any(|p| p.0 == 300 || p.0 == 302));
    }

    #[test]
    fn groups_paraphrases_apart_from_other_topics() {
        let texts = [
            "can i pay with paypal",
            "do you accept paypal",
            "paypal payment possible?",
            "能用花呗付款吗",
            "可以用花呗吗",
            "where is my parcel",
        ];
        let (_, v) = Vectorizer::fit(&texts);
        let groups = group(&v, 0.25);
        assert_eq!(groups, vec![vec![0, 1, 2], vec![3, 4], vec![5]]);
    }
}
