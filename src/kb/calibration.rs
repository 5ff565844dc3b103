//! How sure to be of a Chinese FAQ answer: a logistic map from a hit's raw signals to the
//! chance it is the right FAQ, fitted on labelled questions.
//!
//! Data flow: labelled probes (the signals of a top hit, whether it was right, a weight) →
//! [`ConfidenceMap::fit`] (weighted, L2-regularised logistic regression, Newton steps) →
//! [`ConfidenceMap::apply`] turns a hit's [`Signals`] into its confidence.
//!
//! Why a fitted map: the raw Chinese confidence (term overlap with the closest phrasing)
//! means different things on different KBs. On a shop's KB, where the lint keeps FAQs
//! apart, an overlap of 0.7 is usually the right FAQ; on a KB of thousands of look-alike
//! wordings it is right one time in ten. Only labelled questions tell the two apart. The
//! probes come from the KB's own alternates ([`super::self_calibration`]) or, in
//! `baton eval kb`, from a held-out half of the labelled queries.

/// What a hit's confidence is computed from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Signals {
    /// IDF-weighted term overlap with the FAQ's closest phrasing, 0..=1.
    pub overlap: f32,
    /// Similarity of the query's vector to the closest phrasing (0 without vectors).
    pub similarity: f32,
    /// The hit's ranking score minus the best other candidate's: positive only for the top
    /// hit, and larger the clearer its lead.
    pub lead: f32,
}

impl Signals {
    fn features(&self) -> [f64; FEATURES] {
        [
            self.overlap as f64,
            self.similarity as f64,
            self.lead as f64,
            1.0,
        ]
    }
}

/// One labelled question: the signals of its top hit and whether that hit was right.
#[derive(Debug, Clone, Copy)]
pub struct Probe {
    pub signals: Signals,
    pub right: bool,
    /// How much this probe counts (questions with no answer in the KB are weighed to their
    /// expected share of traffic).
    pub weight: f64,
}

const FEATURES: usize = 4;

/// Fewer probes of either kind than this, and the map is not fitted: a handful of labels
/// would only replace one guess with another.
pub const MIN_PROBES_EACH: usize = 10;

/// Pulls the weights towards 0 so that a feature the probes barely vary cannot take an
/// extreme weight (for example a KB whose probes were all right).
const L2: f64 = 1e-3;

/// A fitted logistic map: `confidence = σ(w · [overlap, similarity, lead, 1])`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfidenceMap {
    weights: [f64; FEATURES],
    /// How many probes it was fitted on, right and wrong.
    pub fitted_on: (usize, usize),
}

impl ConfidenceMap {
    /// Fits the map, or `None` when there are fewer than [`MIN_PROBES_EACH`] right or wrong
    /// probes.
    pub fn fit(probes: &[Probe]) -> Option<ConfidenceMap> {
        let right = probes.iter().filter(|p| p.right).count();
        let wrong = probes.len() - right;
        if right < MIN_PROBES_EACH || wrong < MIN_PROBES_EACH {
            return None;
        }
        let total_weight: f64 = probes.iter().map(|p| p.weight).sum();
        if total_weight <= 0.0 {
            return None;
        }
        let mut w = [0.0f64; FEATURES];
        // Newton's method on the weighted, regularised log-loss: the loss is convex and has
        // four parameters, so a few exact steps converge where gradient descent would need a
        // learning rate.
        for _ in 0..50 {
            let mut gradient = [0.0f64; FEATURES];
            let mut hessian = [[0.0f64; FEATURES]; FEATURES];
            for p in probes {
                let x = p.signals.features();
                let q = sigmoid(dot(&w, &x));
                let y = if p.right { 1.0 } else { 0.0 };
                let pw = p.weight / total_weight;
                for i in 0..FEATURES {
                    gradient[i] += pw * (q - y) * x[i];
                    for j in 0..FEATURES {
                        hessian[i][j] += pw * q * (1.0 - q) * x[i] * x[j];
                    }
                }
            }
            // The intercept is not shrunk: the base rate is what the probes say it is.
            for i in 0..FEATURES - 1 {
                gradient[i] += L2 * w[i];
                hessian[i][i] += L2;
            }
            let Some(step) = solve(hessian, gradient) else {
                break;
            };
            let mut largest = 0.0f64;
            for i in 0..FEATURES {
                w[i] -= step[i];
                largest = largest.max(step[i].abs());
            }
            if largest < 1e-7 {
                break;
            }
        }
        w.iter().all(|x| x.is_finite()).then_some(ConfidenceMap {
            weights: w,
            fitted_on: (right, wrong),
        })
    }

    /// The chance, 0..=1, that a hit with these signals is the right FAQ.
    pub fn apply(&self, signals: &Signals) -> f32 {
        sigmoid(dot(&self.weights, &signals.features())) as f32
    }
}

fn dot(a: &[f64; FEATURES], b: &[f64; FEATURES]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Solves `a · x = b` by Gaussian elimination with partial pivoting; `None` when singular.
fn solve(mut a: [[f64; FEATURES]; FEATURES], mut b: [f64; FEATURES]) -> Option<[f64; FEATURES]> {
    for col in 0..FEATURES {
        let pivot = (col..FEATURES).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let pivot_row = a[col];
        for row in col + 1..FEATURES {
            let factor = a[row][col] / pivot_row[col];
            for (x, p) in a[row][col..].iter_mut().zip(&pivot_row[col..]) {
                *x -= factor * p;
            }
            b[row] -= factor * b[col];
        }
    }
    let mut x = [0.0f64; FEATURES];
    for row in (0..FEATURES).rev() {
        let rest: f64 = (row + 1..FEATURES).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - rest) / a[row][row];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(overlap: f32, right: bool) -> Probe {
        Probe {
            signals: Signals {
                overlap,
                similarity: 0.0,
                lead: 0.0,
            },
            right,
            weight: 1.0,
        }
    }

    #[test]
    fn too_few_probes_of_either_kind_fit_nothing() {
        let all_right: Vec<Probe> = (0..100).map(|i| probe(i as f32 / 100.0, true)).collect();
        assert!(ConfidenceMap::fit(&all_right).is_none());
        let mut few_wrong = all_right.clone();
        few_wrong.extend((0..MIN_PROBES_EACH - 1).map(|_| probe(0.1, false)));
        assert!(ConfidenceMap::fit(&few_wrong).is_none());
    }

    #[test]
    fn the_map_says_how_often_a_band_is_right() {
        // High overlap right 9 times in 10, low overlap right 1 time in 10.
        let mut probes = Vec::new();
        for i in 0..200 {
            probes.push(probe(0.9, i % 10 != 0));
            probes.push(probe(0.2, i % 10 == 0));
        }
        let map = ConfidenceMap::fit(&probes).expect("fitted");
        let high = map.apply(&probes[0].signals);
        let low = map.apply(&probes[1].signals);
        assert!((high - 0.9).abs() < 0.03, "high {high}");
        assert!((low - 0.1).abs() < 0.03, "low {low}");
    }

    #[test]
    fn a_kb_where_nothing_tells_right_from_wrong_gets_its_base_rate() {
        // Right one time in ten whatever the overlap: every confidence should say ~0.1.
        let probes: Vec<Probe> = (0..1000)
            .map(|i| probe((i % 97) as f32 / 97.0, i % 10 == 0))
            .collect();
        let map = ConfidenceMap::fit(&probes).expect("fitted");
        for overlap in [0.05, 0.5, 0.95] {
            let c = map.apply(&Signals {
                overlap,
                similarity: 0.0,
                lead: 0.0,
            });
            assert!((c - 0.1).abs() < 0.04, "overlap {overlap}: {c}");
        }
    }

    #[test]
    fn weights_count_as_repeated_probes() {
        let mut weighted = Vec::new();
        let mut repeated = Vec::new();
        for i in 0..100 {
            let wrong = probe(0.3 + (i % 7) as f32 / 10.0, false);
            weighted.push(Probe {
                weight: 3.0,
                ..wrong
            });
            repeated.extend([wrong; 3]);
            let right = probe(0.5 + (i % 5) as f32 / 10.0, true);
            weighted.push(right);
            repeated.push(right);
        }
        let a = ConfidenceMap::fit(&weighted).expect("fitted");
        let b = ConfidenceMap::fit(&repeated).expect("fitted");
        let s = Signals {
            overlap: 0.7,
            similarity: 0.0,
            lead: 0.0,
        };
        assert!((a.apply(&s) - b.apply(&s)).abs() < 1e-4);
    }
}
