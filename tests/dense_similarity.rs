//! Near-duplicate FAQs and knowledge-gap groups by meaning, with the real encoders: Chinese
//! paraphrases that share no characters are flagged and grouped once multilingual-e5 reads
//! Chinese, unrelated questions are not. Skips (saying why) when `models/` is not installed.
//!
//! `measure_thresholds_on_paraphrase_sets` (ignored) is how the thresholds of
//! `baton::encoder::similarity::Reader` were chosen; it reads `../shared/data/`.

use std::path::{Path, PathBuf};

use baton::encoder::similarity::{Reader, cosine, leader_groups};
use baton::encoder::{Encoder, PoolOptions};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// MiniLM for English and multilingual-e5 for Chinese, as `nlu.encoder_zh` configures them;
/// `None`, with the reason printed, when either model is not installed.
fn encoders(cache: Option<&Path>) -> Option<Encoder> {
    let english = repo().join("models/all-MiniLM-L6-v2");
    let chinese = repo().join("models/multilingual-e5-small");
    for dir in [&english, &chinese] {
        if !baton::encoder::SentenceEncoder::is_model_dir(dir) {
            eprintln!(
                "skipped: no model in {} (run models/install.sh)",
                dir.display()
            );
            return None;
        }
    }
    let options = PoolOptions {
        workers: 2,
        queue: 64,
        max_batch: 16,
        cached_messages: 0,
    };
    Some(
        Encoder::load_per_language(&english, Some(&chinese), cache, options)
            .expect("installed models load"),
    )
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("create dir");
    std::fs::write(path, text).expect("write");
}

/// A content tree with four Chinese FAQs, two of them paraphrases without a shared character,
/// and two intents of the sample content (training needs two).
fn content_tree(root: &Path) -> (PathBuf, PathBuf) {
    let (kb, intents) = (root.join("kb"), root.join("intents"));
    for (id, question) in [
        ("broken", "东西拿到手是坏的"),
        ("damaged", "收到的商品破损"),
        ("hours", "你们几点下班"),
        ("invoice", "怎么开发票"),
    ] {
        write(
            &kb.join(format!("{id}.zh.md")),
            &format!("---\nid: {id}\nlang: zh\nquestion: {question}\n---\n请联系客服。\n"),
        );
    }
    std::fs::create_dir_all(&intents).expect("create dir");
    for name in ["greeting.yaml", "goodbye.yaml"] {
        std::fs::copy(repo().join("intents").join(name), intents.join(name))
            .expect("copy an intent");
    }
    (kb, intents)
}

fn near_duplicates(report: &baton::content::LoadReport) -> Vec<String> {
    assert!(!report.has_errors(), "{:?}", report.diagnostics);
    report
        .warnings()
        .map(|d| d.to_string())
        .filter(|d| d.contains("nearly the same"))
        .collect()
}

#[test]
fn chinese_paraphrases_are_near_duplicate_faqs_by_meaning() {
    let Some(encoder) = encoders(None) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let (kb, intents) = content_tree(dir.path());

    let found = near_duplicates(&baton::content::load_with_encoder(
        &kb,
        &intents,
        Some(&encoder),
    ));
    // Once, on the later file, naming both places and the similarity; the unrelated
    // questions (hours, invoices) are not flagged.
    assert_eq!(found.len(), 1, "{found:#?}");
    let broken = format!("{}:4", kb.join("broken.zh.md").display());
    let damaged = format!("{}:4: warning:", kb.join("damaged.zh.md").display());
    assert!(found[0].starts_with(&damaged), "{}", found[0]);
    assert!(
        found[0].contains(&format!("of FAQ \"broken\" ({broken}), similarity 0.")),
        "{}",
        found[0]
    );
    assert!(found[0].contains(" by meaning: "), "{}", found[0]);

    // By their words the two share nothing worth a warning.
    assert!(near_duplicates(&baton::content::load(&kb, &intents)).is_empty());

    // A reload builds knowledge the same way: its warnings (what `/v1/admin/kb/status`
    // shows) carry the same finding.
    let knowledge = baton::knowledge::Knowledge::load_from(
        &kb,
        &intents,
        &baton::config::NluConfig::default(),
        None,
        0.5,
        Some(std::sync::Arc::new(encoder)),
    )
    .expect("the content builds");
    let reloaded: Vec<String> = knowledge
        .warnings
        .iter()
        .map(|d| d.to_string())
        .filter(|d| d.contains("nearly the same"))
        .collect();
    assert_eq!(reloaded, found);
}

#[test]
fn chinese_paraphrases_share_a_knowledge_gap_group() {
    let Some(encoder) = encoders(None) else {
        return;
    };
    use baton::insights::gaps::{GapItem, GapReason, group};
    let item = |text: &str, at: i64| GapItem {
        text: text.into(),
        lang: baton::nlu::Lang::Zh,
        conversation_id: format!("c{at}"),
        seq: 1,
        at,
        reason: GapReason::LowConfidence,
    };
    let items = vec![
        item("东西拿到手是坏的", 1),
        item("你们几点下班", 2),
        item("收到的商品破损", 3),
    ];
    // The sample shop's Chinese FAQs: the nearest one is found by meaning too.
    let content = baton::content::load(&repo().join("kb"), &repo().join("intents")).content;
    let faqs: Vec<_> = content
        .faqs
        .into_iter()
        .filter(|f| f.lang == baton::nlu::Lang::Zh)
        .collect();

    let groups = group(&items, &faqs, Some(&encoder), 3);
    assert_eq!(groups.len(), 2, "{groups:#?}");
    let damaged = &groups[0];
    assert_eq!(damaged.count, 2, "{groups:#?}");
    let mut texts = damaged.texts.clone();
    texts.sort();
    assert_eq!(texts, vec!["东西拿到手是坏的", "收到的商品破损"]);
    assert_eq!(
        damaged.nearest_faq.as_ref().map(|f| f.faq_id.as_str()),
        Some("damaged-or-wrong-item"),
        "{groups:#?}"
    );
    assert_eq!(groups[1].representative, "你们几点下班");

    // By their words the paraphrases stay apart.
    assert_eq!(group(&items, &faqs, None, 3).len(), 3);
}

// ---------------------------------------------------------------------------------------------
// Measurement

/// Paraphrase clusters of a dataset: each FAQ's question with the queries that ask it
/// (FAQs without queries are distractors and left out).
fn clusters(dir: &Path) -> Vec<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct FaqLine {
        id: String,
        question: String,
    }
    #[derive(serde::Deserialize)]
    struct QueryLine {
        query: String,
        id: String,
    }
    let lines = |name: &str| -> Vec<String> {
        std::fs::read_to_string(dir.join(name))
            .expect("dataset file")
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect()
    };
    let mut by_id: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let mut order: Vec<String> = Vec::new();
    for l in lines("faqs.jsonl") {
        let f: FaqLine = serde_json::from_str(&l).expect("faq line");
        order.push(f.id.clone());
        by_id.insert(f.id, vec![f.question]);
    }
    for l in lines("queries.jsonl") {
        let q: QueryLine = serde_json::from_str(&l).expect("query line");
        if let Some(c) = by_id.get_mut(&q.id) {
            c.push(q.query);
        }
    }
    order
        .into_iter()
        .filter_map(|id| by_id.remove(&id))
        .filter(|c| c.len() > 1)
        .collect()
}

fn percentile(sorted: &[f32], p: f32) -> f32 {
    sorted[((sorted.len() - 1) as f32 * p).round() as usize]
}

/// B-cubed precision and recall of `groups` against the true `label` of each item.
fn b_cubed(groups: &[Vec<usize>], label: &[usize]) -> (f32, f32) {
    let mut group_of = vec![0; label.len()];
    for (g, members) in groups.iter().enumerate() {
        for &m in members {
            group_of[m] = g;
        }
    }
    let mut class_size = std::collections::HashMap::new();
    for &l in label {
        *class_size.entry(l).or_insert(0usize) += 1;
    }
    let (mut precision, mut recall) = (0.0, 0.0);
    for i in 0..label.len() {
        let group = &groups[group_of[i]];
        let right = group.iter().filter(|&&j| label[j] == label[i]).count() as f32;
        precision += right / group.len() as f32;
        recall += right / class_size[&label[i]] as f32;
    }
    let n = label.len() as f32;
    (precision / n, recall / n)
}

/// Paraphrase clusters of the sample shop's FAQs in `lang`: each FAQ's question and alternates.
fn kb_clusters(lang: baton::nlu::Lang) -> Vec<Vec<String>> {
    baton::content::load(&repo().join("kb"), &repo().join("intents"))
        .content
        .faqs
        .into_iter()
        .filter(|f| f.lang == lang)
        .map(|f| std::iter::once(f.question).chain(f.alternates).collect())
        .collect()
}

fn measure(
    name: &str,
    clusters: Vec<Vec<String>>,
    encoder: &Encoder,
    expected: Reader,
    group_grid: (f32, f32),
) {
    let mut texts: Vec<String> = Vec::new();
    let mut label: Vec<usize> = Vec::new();
    for (c, members) in clusters.iter().enumerate() {
        for t in members {
            texts.push(baton::nlu::normalize(t));
            label.push(c);
        }
    }
    // Only what this model reads (an English FAQ may quote a Chinese word).
    let (texts, label): (Vec<String>, Vec<usize>) = texts
        .into_iter()
        .zip(label)
        .filter(|(t, _)| encoder.model.reader_of(t) == Some(expected))
        .unzip();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let vectors = encoder.embed_content(&refs).expect("embedding");
    let v: Vec<&[f32]> = vectors.iter().map(|v| &v[..]).collect();

    // Pairs of the same cluster against pairs of different clusters.
    let (mut same, mut different) = (Vec::new(), Vec::new());
    for i in 0..v.len() {
        for j in i + 1..v.len() {
            let s = cosine(v[i], v[j]);
            if label[i] == label[j] {
                same.push(s);
            } else {
                different.push(s);
            }
        }
    }
    same.sort_by(f32::total_cmp);
    different.sort_by(f32::total_cmp);
    println!(
        "\n== {name}: {} clusters, {} texts, {} same-cluster pairs, {} different-cluster pairs",
        clusters.len(),
        v.len(),
        same.len(),
        different.len()
    );
    for (what, s) in [("same", &same), ("different", &different)] {
        println!(
            "{what:>9}: p5 {:.3}  p25 {:.3}  p50 {:.3}  p75 {:.3}  p95 {:.3}  p99 {:.3}  p99.9 {:.3}",
            percentile(s, 0.05),
            percentile(s, 0.25),
            percentile(s, 0.5),
            percentile(s, 0.75),
            percentile(s, 0.95),
            percentile(s, 0.99),
            percentile(s, 0.999)
        );
    }
    println!("pairs at or above t: threshold, same, different, precision, recall");
    let above = |s: &[f32], t: f32| s.len() - s.partition_point(|&x| x < t);
    for k in 0..=30 {
        let t = 0.70 + k as f32 * 0.01;
        let (a, b) = (above(&same, t), above(&different, t));
        println!(
            "  {t:.2}  {a:>6}  {b:>8}  {:.3}  {:.3}",
            a as f32 / (a + b).max(1) as f32,
            a as f32 / same.len() as f32
        );
    }

    faq_level(&v, &label);
    if expected == Reader::MultilingualE5 {
        faq_level_margin(&v, &label);
    }

    // Groups, in a fixed shuffled order (shoppers do not ask cluster by cluster).
    let mut order: Vec<usize> = (0..v.len()).collect();
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for i in (1..order.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        order.swap(i, (state % (i as u64 + 1)) as usize);
    }
    let shuffled: Vec<&[f32]> = order.iter().map(|&i| v[i]).collect();
    let shuffled_label: Vec<usize> = order.iter().map(|&i| label[i]).collect();
    println!("leader groups: threshold, groups, B-cubed precision, recall, F1");
    for k in 0..=12 {
        let t = group_grid.0 + k as f32 * group_grid.1;
        let groups = leader_groups(&shuffled, t);
        let (p, r) = b_cubed(&groups, &shuffled_label);
        println!(
            "  {t:.3}  {:>5}  {p:.3}  {r:.3}  {:.3}",
            groups.len(),
            2.0 * p * r / (p + r)
        );
    }

    // The nearest FAQ: each query's most similar FAQ question, right or wrong, by its score.
    let questions: Vec<usize> = (0..v.len())
        .filter(|&i| i == 0 || label[i] != label[i - 1])
        .collect();
    let mut best: Vec<(f32, bool)> = (0..v.len())
        .filter(|i| !questions.contains(i))
        .map(|i| {
            questions
                .iter()
                .map(|&q| (cosine(v[i], v[q]), label[q] == label[i]))
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .unwrap_or((0.0, false))
        })
        .collect();
    best.sort_by(|a, b| b.0.total_cmp(&a.0));
    println!("nearest FAQ question at or above a floor: floor, queries named, right");
    for k in 0..=12 {
        let floor = 0.40 + k as f32 * 0.05;
        let named: Vec<&(f32, bool)> = best.iter().filter(|b| b.0 >= floor).collect();
        let right = named.iter().filter(|b| b.1).count();
        println!(
            "  {floor:.2}  {:.3}  {:.3}",
            named.len() as f32 / best.len() as f32,
            right as f32 / named.len().max(1) as f32
        );
    }
}

/// The check as `baton lint` runs it: clusters are FAQs, and two FAQs are flagged when a
/// phrasing of one is at least `t` similar to one of the other — alone, and with the rule that
/// the pair must also be closer than either phrasing is to its own FAQ's other phrasings
/// (then retrieval really cannot tell the FAQs apart). Each cluster of four or more texts is
/// also split in two halves, as if an editor had written the same FAQ twice: the recall is
/// over those pairs, the false flags over pairs of different clusters.
fn faq_level(v: &[&[f32]], label: &[usize]) {
    let Twins {
        split,
        duplicates,
        clusters,
    } = split_in_twins(label);
    let mut own_best = vec![-1f32; v.len()];
    for i in 0..v.len() {
        for j in 0..v.len() {
            if i != j && split[i] == split[j] {
                own_best[i] = own_best[i].max(cosine(v[i], v[j]));
            }
        }
    }
    // Per pair of FAQs: the best cosine, and the best that beats both phrasings' own.
    let mut best: std::collections::HashMap<(usize, usize), (f32, f32)> = Default::default();
    for i in 0..v.len() {
        for j in i + 1..v.len() {
            if split[i] == split[j] {
                continue;
            }
            let key = (split[i].min(split[j]), split[i].max(split[j]));
            let s = cosine(v[i], v[j]);
            let e = best.entry(key).or_insert((-1.0, -1.0));
            e.0 = e.0.max(s);
            if s > own_best[i] && s > own_best[j] {
                e.1 = e.1.max(s);
            }
        }
    }
    let original = |(a, b): (usize, usize)| (a % clusters, b % clusters);
    let different = best
        .keys()
        .filter(|k| {
            let (a, b) = original(**k);
            a != b
        })
        .count();
    println!(
        "FAQ pairs flagged: threshold, duplicates found (of {}), different FAQs flagged (of {different}), \
         the same with the closer-than-own rule",
        duplicates.len()
    );
    for k in 0..=12 {
        let t = 0.86 + k as f32 * 0.01;
        let count = |pick: &dyn Fn(&(f32, f32)) -> f32, dup: bool| {
            best.iter()
                .filter(|(k, s)| pick(s) >= t && duplicates.contains(*k) == dup)
                .filter(|(k, _)| dup || original(**k).0 != original(**k).1)
                .count()
        };
        println!(
            "  {t:.2}  {:>5}  {:>7}    {:>5}  {:>7}",
            count(&|s| s.0, true),
            count(&|s| s.0, false),
            count(&|s| s.1, true),
            count(&|s| s.1, false)
        );
    }
}

/// Like [`faq_level`], with a margin rule instead: a pair is flagged when it is also at least
/// `m` more similar than either phrasing is to any third FAQ (a duplicate stands out from the
/// crowd; multilingual-e5 puts the crowd itself high).
fn faq_level_margin(v: &[&[f32]], label: &[usize]) {
    let Twins {
        split,
        duplicates,
        clusters,
    } = split_in_twins(label);
    let faqs = 2 * clusters;
    // Per phrasing: its best and second-best FAQ other than its own.
    let mut top: Vec<[(usize, f32); 2]> = vec![[(usize::MAX, -1.0); 2]; v.len()];
    for i in 0..v.len() {
        let mut per_faq = vec![-1f32; faqs];
        for j in 0..v.len() {
            if split[j] != split[i] {
                let s = cosine(v[i], v[j]);
                per_faq[split[j]] = per_faq[split[j]].max(s);
            }
        }
        for (f, &s) in per_faq.iter().enumerate() {
            if s > top[i][0].1 {
                top[i][1] = top[i][0];
                top[i][0] = (f, s);
            } else if s > top[i][1].1 {
                top[i][1] = (f, s);
            }
        }
    }
    let third = |i: usize, other: usize| {
        if top[i][0].0 == other {
            top[i][1].1
        } else {
            top[i][0].1
        }
    };
    let grid_t = [0.88f32, 0.89, 0.90, 0.91];
    let grid_m = [0.0f32, 0.02, 0.03, 0.04, 0.05, 0.06];
    let mut best: std::collections::HashMap<(usize, usize), Vec<f32>> = Default::default();
    for i in 0..v.len() {
        for j in i + 1..v.len() {
            if split[i] == split[j] {
                continue;
            }
            let s = cosine(v[i], v[j]);
            let margin = s - third(i, split[j]).max(third(j, split[i]));
            let key = (split[i].min(split[j]), split[i].max(split[j]));
            let e = best
                .entry(key)
                .or_insert_with(|| vec![-1.0; grid_t.len() * grid_m.len()]);
            for (a, t) in grid_t.iter().enumerate() {
                for (b, m) in grid_m.iter().enumerate() {
                    if s >= *t && margin >= *m {
                        e[a * grid_m.len() + b] = 1.0;
                    }
                }
            }
        }
    }
    println!(
        "margin rule: threshold, margin, duplicates found (of {}), different FAQs flagged",
        duplicates.len()
    );
    for (a, t) in grid_t.iter().enumerate() {
        for (b, m) in grid_m.iter().enumerate() {
            let k = a * grid_m.len() + b;
            let dup = best
                .iter()
                .filter(|(key, f)| f[k] > 0.0 && duplicates.contains(*key))
                .count();
            let other = best
                .iter()
                .filter(|(key, f)| f[k] > 0.0 && key.0 % clusters != key.1 % clusters)
                .count();
            println!("  {t:.2}  {m:.2}  {dup:>5}  {other:>7}");
        }
    }
}

#[test]
#[ignore = "measurement: reads ../shared/data and prints the figures the thresholds come from"]
fn measure_thresholds_on_paraphrase_sets() {
    let data = repo().join("../shared/data");
    if !data.is_dir() {
        eprintln!("skipped: no datasets at {}", data.display());
        return;
    }
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("similarity-measure");
    let Some(encoder) = encoders(Some(&cache)) else {
        return;
    };
    let examples = [
        "东西拿到手是坏的",
        "收到的商品破损",
        "你们几点下班",
        "怎么开发票",
    ];
    let v = encoder.embed_content(&examples).expect("embedding");
    for i in 0..v.len() {
        for j in i + 1..v.len() {
            println!(
                "{} / {}: {:.3}",
                examples[i],
                examples[j],
                cosine(&v[i], &v[j])
            );
        }
    }
    use baton::nlu::Lang;
    let (e5, bert) = (Reader::MultilingualE5, Reader::Bert);
    measure(
        "sample kb/, Chinese (multilingual-e5-small)",
        kb_clusters(Lang::Zh),
        &encoder,
        e5,
        (0.88, 0.01),
    );
    measure(
        "bq_faq (Chinese, multilingual-e5-small)",
        clusters(&data.join("bq_faq")),
        &encoder,
        e5,
        (0.88, 0.01),
    );
    measure(
        "sample kb/, English (all-MiniLM-L6-v2)",
        kb_clusters(Lang::En),
        &encoder,
        bert,
        (0.35, 0.04),
    );
    measure(
        "stackfaq (English, all-MiniLM-L6-v2)",
        clusters(&data.join("stackfaq")),
        &encoder,
        bert,
        (0.35, 0.04),
    );
}

/// Each cluster of four or more texts split in two halves, as if an editor had written the
/// same FAQ twice: the new labels, the (cluster, twin) pairs, and the number of clusters.
struct Twins {
    split: Vec<usize>,
    duplicates: std::collections::HashSet<(usize, usize)>,
    clusters: usize,
}

fn split_in_twins(label: &[usize]) -> Twins {
    let mut split = label.to_vec();
    let mut duplicates = std::collections::HashSet::new();
    let clusters = label.iter().max().map_or(0, |m| m + 1);
    for c in 0..clusters {
        let members: Vec<usize> = (0..label.len()).filter(|&i| label[i] == c).collect();
        if members.len() >= 4 {
            let twin = clusters + c;
            for &i in &members[members.len() / 2..] {
                split[i] = twin;
            }
            duplicates.insert((c, twin));
        }
    }
    Twins {
        split,
        duplicates,
        clusters,
    }
}
