//! How sure the classifier may say it is: fitted with some intents left out, so that a
//! question about something no intent covers is part of what "sure" is measured against.
//!
//! A mixture calibrated on questions of known intents only learns how sharp to be when one of
//! them is meant; nothing in that data says how sure it ends up about a question none of them
//! covers. The multilingual encoder's head is sharp, and at the shop's answer threshold it let
//! a fifth more such questions through than the n-grams did (SMP2017 with intents left out,
//! README). So the temperature is fitted the way the threshold reads the confidence: as the
//! probability that the top label is right. A probe is trained with about a sixth of the
//! intents hidden ([`hidden_intents`]); on the held-out questions — of the kept intents, and of
//! the hidden ones, which it cannot get right — each language's temperature minimises the
//! log-loss of "the top label is right" ([`fit_temperature`]), the hidden intents' questions
//! weighing what their share of all questions is. The mixing weight stays as fitted on known
//! intents, so no prediction changes: only how sure each says it is.
//!
//! Data flow: labels → [`hidden_intents`] → [`Probe`] (the fitting examples without them →
//! the n-gram model and dense head → their predictions for the held-out questions and the
//! hidden intents' own) → [`fit_temperature`] at each candidate temperature → the
//! calibration's temperatures, or the n-gram model's own when it answers alone.

use rand::SeedableRng;

use std::sync::Arc;

use super::NluError;
use super::classifier::{self, Example, OOS_LABEL, TrainParams, softmax};
use super::ensemble::{
    Calibration, Data, Ensemble, Mixture, OosTarget, Parts, Scored, scored, temperature_grid,
    train_dense,
};
use super::vector_head::DenseParams;
use crate::encoder::routed::has_cjk;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

/// Share of the intents the probe does without: one in six, as the six folds measured.
const HIDDEN_SHARE: usize = 6;
/// Fewer intents than this leave too few to hide one and still learn the rest.
const MIN_INTENTS: usize = 6;

/// Which labels the probe is trained without (`true` = hidden), chosen by `seed`; `None` when
/// there are too few intents to hide any. The `oos` class is never hidden: its questions are
/// already the ones no intent covers.
pub fn hidden_intents(labels: &[String], seed: u64) -> Option<Vec<bool>> {
    let mut intents: Vec<usize> = (0..labels.len())
        .filter(|&i| labels[i] != OOS_LABEL)
        .collect();
    if intents.len() < MIN_INTENTS {
        return None;
    }
    intents.shuffle(&mut StdRng::seed_from_u64(seed ^ 0x01DE5));
    let mut hidden = vec![false; labels.len()];
    for &label in intents.iter().take(intents.len().div_ceil(HIDDEN_SHARE)) {
        hidden[label] = true;
    }
    Some(hidden)
}

/// What the probe made of the held-out questions at one temperature.
#[derive(Debug, Default)]
pub struct Outcomes {
    /// Questions of the intents it learned: confidence, and whether the top label is right.
    pub known: Vec<(f32, bool)>,
    /// Questions of the hidden intents: confidence (the top label is wrong by construction).
    pub unknown: Vec<f32>,
}

/// The temperature among `candidates` whose confidences best predict whether the top label is
/// right, when `unknown_share` of all questions are about a hidden intent: `outcomes(t)` is
/// what the probe made of the held-out questions at temperature `t`. `None` without questions
/// of both kinds: nothing to fit against.
pub fn fit_temperature(
    candidates: &[f32],
    unknown_share: f32,
    mut outcomes: impl FnMut(f32) -> Outcomes,
) -> Option<f32> {
    let log_loss = |p: f32, right: bool| {
        let p = p.clamp(1e-6, 1.0 - 1e-6);
        if right { -p.ln() } else { -(1.0 - p).ln() }
    };
    let share = unknown_share.clamp(0.0, 1.0);
    let mut best: Option<(f32, f32)> = None;
    for &t in candidates {
        let o = outcomes(t);
        if o.known.is_empty() || o.unknown.is_empty() {
            return None;
        }
        let known =
            o.known.iter().map(|&(p, r)| log_loss(p, r)).sum::<f32>() / o.known.len() as f32;
        let unknown =
            o.unknown.iter().map(|&p| log_loss(p, false)).sum::<f32>() / o.unknown.len() as f32;
        let loss = (1.0 - share) * known + share * unknown;
        if best.is_none_or(|(l, _)| loss < l) {
            best = Some((loss, t));
        }
    }
    best.map(|(_, t)| t)
}

/// A probe: the intent models trained without the hidden intents.
pub(super) struct Probe<'a> {
    /// The examples the models learn from, and those held out to fit on.
    pub fit: Data<'a>,
    pub held: Data<'a>,
    pub labels: &'a [String],
    pub hidden: &'a [bool],
}

/// What the probe made of one question.
struct Sample {
    /// The n-gram model's raw logits (for the n-gram model alone).
    logits: Vec<f32>,
    /// Both models' log-probabilities (for the mixture).
    parts: Parts,
    label: usize,
    chinese: bool,
}

/// Temperatures fitted with intents left out.
pub(super) enum Refit {
    /// The mixture's, written into the calibration.
    Mixture,
    /// The n-gram model's own, when it answers alone.
    NgramAlone(f32),
}

impl Probe<'_> {
    fn is_hidden(&self, ex: &Example) -> bool {
        self.hidden.get(ex.label).copied().unwrap_or(false)
    }

    /// The n-gram model and dense head trained on the kept intents' fitting examples.
    fn train(
        &self,
        calibration: Calibration,
        params: &TrainParams,
        dense_params: &DenseParams,
        target: OosTarget,
    ) -> Result<Ensemble, NluError> {
        let kept: Vec<usize> = (0..self.fit.examples.len())
            .filter(|&i| !self.is_hidden(&self.fit.examples[i]))
            .collect();
        let examples: Vec<Example> = kept.iter().map(|&i| self.fit.examples[i].clone()).collect();
        let vectors: Option<Vec<Arc<[f32]>>> = self
            .fit
            .vectors
            .map(|v| kept.iter().map(|&i| v[i].clone()).collect());
        let held_known: Vec<Example> = self
            .held
            .examples
            .iter()
            .filter(|ex| !self.is_hidden(ex))
            .cloned()
            .collect();
        Ok(Ensemble {
            ngram: classifier::train(
                &examples,
                self.labels.to_vec(),
                params,
                Some(&held_known),
                target.default_threshold,
            )?,
            dense: train_dense(
                Data {
                    examples: &examples,
                    vectors: vectors.as_deref(),
                },
                self.labels.len(),
                dense_params,
            )?,
            calibration,
            sweep: Vec::new(),
        })
    }

    /// Known: the held-out questions of kept intents. Unknown: every question of a hidden
    /// intent, held out or not, since the probe saw none of them.
    fn samples(&self, model: &Ensemble) -> (Vec<Sample>, Vec<Sample>) {
        let sample = |data: Data<'_>, i: usize| {
            let ex = &data.examples[i];
            Sample {
                logits: model.ngram.logits(&ex.text),
                parts: model.parts(&ex.text, data.vectors.map(|v| &v[i][..])),
                label: ex.label,
                chinese: has_cjk(&ex.text),
            }
        };
        let (mut known, mut unknown) = (Vec::new(), Vec::new());
        for (i, ex) in self.held.examples.iter().enumerate() {
            if self.is_hidden(ex) {
                unknown.push(sample(self.held, i));
            } else {
                known.push(sample(self.held, i));
            }
        }
        for (i, ex) in self.fit.examples.iter().enumerate() {
            if self.is_hidden(ex) {
                unknown.push(sample(self.fit, i));
            }
        }
        (known, unknown)
    }

    /// Refits the temperatures on what a model trained without the hidden intents makes of
    /// the held-out questions and of the hidden intents' own: each language's mixture
    /// temperature when there is a dense head, else the n-gram model's own. A temperature
    /// stays as it was without questions of both kinds.
    pub(super) fn refit_temperatures(
        &self,
        calibration: &mut Calibration,
        ngram_temperature: f32,
        params: &TrainParams,
        dense_params: &DenseParams,
        target: OosTarget,
    ) -> Result<Refit, NluError> {
        let model = self.train(*calibration, params, dense_params, target)?;
        let (known, unknown) = self.samples(&model);
        let all = self.fit.examples.len() + self.held.examples.len();
        let share = unknown.len() as f32 / all.max(1) as f32;
        let fit = |chinese: Option<bool>, confidence: &dyn Fn(&Sample, f32) -> Scored| {
            let language = |s: &&Sample| chinese.is_none_or(|c| s.chinese == c);
            fit_temperature(&temperature_grid(), share, |t| Outcomes {
                known: known
                    .iter()
                    .filter(language)
                    .map(|s| {
                        let scored = confidence(s, t);
                        (scored.confidence, scored.top == s.label)
                    })
                    .collect(),
                unknown: unknown
                    .iter()
                    .filter(language)
                    .map(|s| confidence(s, t).confidence)
                    .collect(),
            })
        };
        if model.dense.is_none() {
            let alone = |s: &Sample, t: f32| scored(softmax(&s.logits, t));
            return Ok(Refit::NgramAlone(
                fit(None, &alone).unwrap_or(ngram_temperature),
            ));
        }
        let mixed = |m: Mixture| {
            move |s: &Sample, t: f32| scored(Ensemble::mix(&s.parts, m.dense_weight, t))
        };
        let shared = Mixture {
            dense_weight: calibration.dense_weight,
            temperature: calibration.temperature,
        };
        match calibration.chinese {
            Some(chinese) => {
                calibration.temperature =
                    fit(Some(false), &mixed(shared)).unwrap_or(shared.temperature);
                calibration.chinese = Some(Mixture {
                    temperature: fit(Some(true), &mixed(chinese)).unwrap_or(chinese.temperature),
                    ..chinese
                });
            }
            None => {
                calibration.temperature = fit(None, &mixed(shared)).unwrap_or(shared.temperature);
            }
        }
        Ok(Refit::Mixture)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sixth_of_the_intents_is_hidden_never_oos_and_the_choice_is_repeatable() {
        let labels = |n: usize| -> Vec<String> { (0..n).map(|i| format!("intent{i}")).collect() };
        assert!(hidden_intents(&labels(5), 1).is_none());
        let hidden = hidden_intents(&labels(31), 7).expect("enough intents");
        assert_eq!(hidden.iter().filter(|h| **h).count(), 6);
        assert_eq!(hidden_intents(&labels(31), 7), Some(hidden.clone()));
        assert_ne!(hidden_intents(&labels(31), 8), Some(hidden));
        let mut with_oos = labels(6);
        with_oos.push(OOS_LABEL.to_string());
        for seed in 0..20 {
            let hidden = hidden_intents(&with_oos, seed).expect("six intents");
            assert!(!hidden[6]);
        }
    }

    #[test]
    fn questions_it_cannot_answer_make_a_confident_mixture_cooler() {
        // A sharp model: right and sure on known questions, and about as sure on questions of
        // a hidden intent, which it cannot get right.
        let confidence = |z: &[f32], t: f32| {
            let e: Vec<f32> = z.iter().map(|x| (x / t).exp()).collect();
            e[0] / e.iter().sum::<f32>()
        };
        let (known, unknown) = ([4.0f32, 0.0, 0.0], [3.0f32, 0.5, 0.0]);
        let grid: Vec<f32> = (1..=50).map(|i| i as f32 * 0.1).collect();
        let outcomes = |t: f32| Outcomes {
            known: vec![(confidence(&known, t), true); 9],
            unknown: vec![confidence(&unknown, t); 3],
        };
        let only_known = |t: f32| Outcomes {
            known: outcomes(t).known,
            unknown: Vec::new(),
        };
        assert_eq!(fit_temperature(&grid, 0.2, only_known), None);
        let rare = fit_temperature(&grid, 0.05, outcomes).expect("both kinds");
        let common = fit_temperature(&grid, 0.3, outcomes).expect("both kinds");
        // The more questions no intent covers, the less sure a top label may be.
        assert!(common > rare, "{rare} vs {common}");
        // And the confidence means what it says: on average, the share of questions right.
        let mean = 0.7 * confidence(&known, common) + 0.3 * confidence(&unknown, common);
        assert!(
            (mean - 0.7).abs() < 0.1,
            "t {common}, mean confidence {mean}"
        );
    }
}
