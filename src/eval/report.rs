//! The detailed report `baton eval intents --report DIR` writes for editors: per-intent
//! precision/recall/F1, the most confused pairs, misclassified examples, a confidence
//! histogram and the out-of-scope threshold sweep, as `report.json`, plus two plots
//! (`sweep.png`, `confidence.png`).
//!
//! Data flow: the evaluation's predictions → [`IntentDetails::build`] (counts only, no model)
//! → [`IntentDetails::write`] (JSON, then the plots drawn with plotters into PNG files).

use std::collections::HashMap;
use std::path::Path;

use plotters::prelude::*;
use serde::Serialize;

use super::{EvalError, IntentReport, Prediction};
use crate::nlu::Example;
use crate::nlu::ensemble::SweepPoint;

/// Precision, recall and F1 of one label on the test set.
#[derive(Debug, Serialize)]
pub struct LabelScore {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

/// How often one label was taken for another.
#[derive(Debug, Serialize)]
pub struct Confusion {
    pub gold: String,
    pub predicted: String,
    pub count: usize,
}

/// A test example the classifier got wrong.
#[derive(Debug, Serialize)]
pub struct Miss {
    pub text: String,
    pub gold: String,
    pub predicted: String,
    pub confidence: f32,
}

/// Counts of test predictions in one confidence bin.
#[derive(Debug, Serialize, Clone, Copy)]
pub struct Bin {
    pub from: f32,
    pub to: f32,
    /// In-scope and predicted right (before the OOS rule).
    pub correct: usize,
    /// In-scope and predicted wrong.
    pub wrong: usize,
    /// Out of scope.
    pub out_of_scope: usize,
}

/// Everything `report.json` holds.
#[derive(Debug, Serialize)]
pub struct IntentDetails<'a> {
    pub summary: &'a IntentReport,
    pub per_intent: Vec<LabelScore>,
    pub most_confused: Vec<Confusion>,
    pub misclassified: Vec<Miss>,
    pub confidence_histogram: Vec<Bin>,
    /// The sweep on the calibration data, which chose the threshold and margin.
    pub validation_sweep: &'a [SweepPoint],
    /// The same sweep on the test data, for the record (never used to choose).
    pub test_sweep: &'a [SweepPoint],
}

const OOS_NAME: &str = "oos";
const MOST_CONFUSED: usize = 25;
const MISSES_KEPT: usize = 300;
const BINS: usize = 20;

impl<'a> IntentDetails<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        labels: &[String],
        classes: usize,
        texts: &[&str],
        test: &[Example],
        gold_oos: &[bool],
        predictions: &[Prediction],
        validation_sweep: &'a [SweepPoint],
        test_sweep: &'a [SweepPoint],
        summary: &'a IntentReport,
    ) -> IntentDetails<'a> {
        // Index `classes` stands for out of scope, gold or predicted.
        let name = |i: usize| -> String {
            if i >= classes {
                OOS_NAME.to_string()
            } else {
                labels[i].clone()
            }
        };
        let mut tp = vec![0usize; classes + 1];
        let mut fp = vec![0usize; classes + 1];
        let mut support = vec![0usize; classes + 1];
        let mut pairs: HashMap<(usize, usize), usize> = HashMap::new();
        let mut misses = Vec::new();
        let mut bins = vec![
            Bin {
                from: 0.0,
                to: 0.0,
                correct: 0,
                wrong: 0,
                out_of_scope: 0
            };
            BINS
        ];
        for (b, bin) in bins.iter_mut().enumerate() {
            bin.from = b as f32 / BINS as f32;
            bin.to = (b + 1) as f32 / BINS as f32;
        }
        for (((ex, oos), p), text) in test.iter().zip(gold_oos).zip(predictions).zip(texts) {
            let gold = if *oos { classes } else { ex.label.min(classes) };
            let pred = if p.flagged { classes } else { p.top };
            support[gold] += 1;
            let bin = &mut bins[((p.confidence * BINS as f32) as usize).min(BINS - 1)];
            if *oos {
                bin.out_of_scope += 1;
            } else if p.top == ex.label {
                bin.correct += 1;
            } else {
                bin.wrong += 1;
            }
            if gold == pred {
                tp[gold] += 1;
            } else {
                fp[pred] += 1;
                *pairs.entry((gold, pred)).or_default() += 1;
                misses.push(Miss {
                    text: text.to_string(),
                    gold: name(gold),
                    predicted: name(pred),
                    confidence: p.confidence,
                });
            }
        }
        let per_intent = (0..=classes)
            .filter(|&l| support[l] > 0 || tp[l] + fp[l] > 0)
            .map(|l| {
                let precision = ratio(tp[l], tp[l] + fp[l]);
                let recall = ratio(tp[l], support[l]);
                let f1 = if precision + recall > 0.0 {
                    2.0 * precision * recall / (precision + recall)
                } else {
                    0.0
                };
                LabelScore {
                    label: name(l),
                    precision,
                    recall,
                    f1,
                    support: support[l],
                }
            })
            .collect();
        let mut most_confused: Vec<Confusion> = pairs
            .into_iter()
            .map(|((g, p), count)| Confusion {
                gold: name(g),
                predicted: name(p),
                count,
            })
            .collect();
        most_confused.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.gold.cmp(&b.gold))
                .then_with(|| a.predicted.cmp(&b.predicted))
        });
        most_confused.truncate(MOST_CONFUSED);
        // The confidently wrong first: those are the ones an editor should read.
        misses.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        misses.truncate(MISSES_KEPT);
        IntentDetails {
            summary,
            per_intent,
            most_confused,
            misclassified: misses,
            confidence_histogram: bins,
            validation_sweep,
            test_sweep,
        }
    }

    /// Writes `report.json`, `sweep.png` and `confidence.png` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), EvalError> {
        let err = |e: &dyn std::fmt::Display| EvalError::Report(format!("{}: {e}", dir.display()));
        std::fs::create_dir_all(dir).map_err(|e| err(&e))?;
        let json = serde_json::to_vec_pretty(self).map_err(|e| err(&e))?;
        std::fs::write(dir.join("report.json"), json).map_err(|e| err(&e))?;
        register_font();
        plot_sweep(
            &dir.join("sweep.png"),
            self.validation_sweep,
            self.test_sweep,
            self.summary,
        )
        .map_err(|e| err(&e))?;
        plot_histogram(&dir.join("confidence.png"), &self.confidence_histogram)
            .map_err(|e| err(&e))?;
        Ok(())
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// plotters draws text with a font registered at run time; DejaVu Sans is embedded so the
/// plots look the same on every machine, fonts installed or not.
fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
            .is_err()
        {
            tracing::warn!("could not register the plot font; plots will have no text");
        }
    });
}

type PlotResult = Result<(), Box<dyn std::error::Error>>;

fn plot_sweep(
    path: &Path,
    validation: &[SweepPoint],
    test: &[SweepPoint],
    summary: &IntentReport,
) -> PlotResult {
    let root = BitMapBackend::new(path, (960, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let caption = format!(
        "Out-of-scope threshold sweep (margin {:.2}); chosen threshold {:.2}",
        summary.oos_margin, summary.oos_threshold
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(0f32..1f32, 0f32..1.02f32)?;
    chart
        .configure_mesh()
        .x_desc("confidence threshold")
        .y_desc("rate")
        .label_style(("sans-serif", 15))
        .draw()?;
    let at_margin = |points: &[SweepPoint]| -> Vec<SweepPoint> {
        points
            .iter()
            .filter(|p| (p.margin - summary.oos_margin).abs() < 1e-6)
            .copied()
            .collect()
    };
    let series: [(&str, &[SweepPoint], RGBColor, bool); 4] = [
        (
            "in-scope accuracy (valid)",
            validation,
            RGBColor(31, 119, 180),
            true,
        ),
        (
            "OOS recall (valid)",
            validation,
            RGBColor(214, 39, 40),
            false,
        ),
        (
            "in-scope accuracy (test)",
            test,
            RGBColor(120, 170, 210),
            true,
        ),
        ("OOS recall (test)", test, RGBColor(240, 140, 140), false),
    ];
    let mut drew = false;
    for (name, points, color, accuracy) in series {
        let points = at_margin(points);
        if points.is_empty() {
            continue;
        }
        drew = true;
        let line = points.iter().map(|p| {
            (
                p.threshold,
                if accuracy {
                    p.in_scope_accuracy
                } else {
                    p.oos_recall
                },
            )
        });
        chart
            .draw_series(LineSeries::new(line, color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    let t = summary.oos_threshold;
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(t, 0.0), (t, 1.02)],
        BLACK.stroke_width(1),
    )))?;
    if drew {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 15))
            .draw()?;
    } else {
        root.draw(&Text::new(
            "no out-of-scope examples: nothing to sweep",
            (300, 300),
            ("sans-serif", 20),
        ))?;
    }
    root.present()?;
    Ok(())
}

fn plot_histogram(path: &Path, bins: &[Bin]) -> PlotResult {
    let root = BitMapBackend::new(path, (960, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let tallest = bins
        .iter()
        .map(|b| b.correct + b.wrong + b.out_of_scope)
        .max()
        .unwrap_or(1)
        .max(1) as f32;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Confidence of test predictions (stacked)",
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(0f32..1f32, 0f32..tallest * 1.05)?;
    chart
        .configure_mesh()
        .x_desc("confidence")
        .y_desc("test messages")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style(("sans-serif", 15))
        .draw()?;
    type Span = fn(&Bin) -> (usize, usize);
    let layers: [(&str, RGBColor, Span); 3] = [
        ("in scope, right", RGBColor(44, 160, 44), |b| (0, b.correct)),
        ("in scope, wrong", RGBColor(255, 127, 14), |b| {
            (b.correct, b.correct + b.wrong)
        }),
        ("out of scope", RGBColor(148, 103, 189), |b| {
            (b.correct + b.wrong, b.correct + b.wrong + b.out_of_scope)
        }),
    ];
    for (name, color, span) in layers {
        chart
            .draw_series(bins.iter().map(|b| {
                let (lo, hi) = span(b);
                Rectangle::new(
                    [(b.from + 0.003, lo as f32), (b.to - 0.003, hi as f32)],
                    color.filled(),
                )
            }))?
            .label(name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()?;
    root.present()?;
    Ok(())
}
