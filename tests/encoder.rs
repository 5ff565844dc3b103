//! The sentence encoder reproduces sentence-transformers' vectors for all-MiniLM-L6-v2.
//!
//! The reference vectors in `tests/fixtures/minilm_reference.json` were written by
//! sentence-transformers itself (`models/reference_vectors.py`). The model is installed by
//! `models/install.sh`, which the README's test command runs first.

use std::path::PathBuf;

use baton::encoder::{SentenceEncoder, dot};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    sentences: Vec<Sentence>,
}

#[derive(Deserialize)]
struct Sentence {
    text: String,
    vector: Vec<f32>,
}

fn model_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2")
}

fn load() -> SentenceEncoder {
    let dir = model_dir();
    assert!(
        SentenceEncoder::is_model_dir(&dir),
        "{} is missing: run models/install.sh first (the README's test command does)",
        dir.display()
    );
    SentenceEncoder::load(&dir).expect("the model loads")
}

fn reference() -> Reference {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minilm_reference.json");
    serde_json::from_slice(&std::fs::read(path).expect("fixture")).expect("fixture parses")
}

#[test]
fn vectors_match_sentence_transformers_within_1e_4() {
    let encoder = load();
    let reference = reference();
    assert_eq!(encoder.dim(), 384);
    // One batch of mixed lengths, so padding is exercised, and each sentence alone.
    let texts: Vec<&str> = reference
        .sentences
        .iter()
        .map(|s| s.text.as_str())
        .collect();
    let batched = encoder.embed_batch(&texts).unwrap();
    for (s, got) in reference.sentences.iter().zip(&batched) {
        let single = encoder.embed_batch(&[s.text.as_str()]).unwrap().remove(0);
        for (name, v) in [("batched", got), ("alone", &single)] {
            let worst = v
                .iter()
                .zip(&s.vector)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(worst < 1e-4, "{name} {:?}: max abs diff {worst}", s.text);
        }
        assert!((dot(got, got) - 1.0).abs() < 1e-5, "unit length");
    }
}

#[test]
fn paraphrases_are_closer_than_unrelated_questions() {
    let encoder = load();
    let v = encoder
        .embed_many(&[
            "How long does a refund take?",
            "When will I get my money back?",
            "Do you ship to Canada?",
        ])
        .unwrap();
    assert!(dot(&v[0], &v[1]) > dot(&v[0], &v[2]) + 0.2);
}

#[test]
fn long_numbers_are_read_by_length_so_such_messages_share_one_vector() {
    let encoder = baton::encoder::LanguageEncoders::single(std::sync::Arc::new(load()));
    let v = encoder
        .embed_many(&[
            "where is my order 48213377",
            "where is my order 90051234",
            "where is my order 12",
            "where is my order 48213377",
        ])
        .unwrap();
    assert_eq!(v[0], v[1], "only the digits of the order number differ");
    assert_ne!(v[0], v[2], "a short number is read as written");
    // The model itself still reads what it is given: the difference is in what it is given.
    let model = load();
    let as_written = model.embed_many(&["where is my order 48213377"]).unwrap();
    assert_ne!(as_written[0], v[0]);
    let stand_in = model.embed_many(&["where is my order 12345678"]).unwrap();
    assert!((dot(&stand_in[0], &v[3]) - 1.0).abs() < 1e-5);
}

#[test]
fn broken_model_directories_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = SentenceEncoder::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("config.json"), "{err}");
    std::fs::copy(
        model_dir().join("config.json"),
        dir.path().join("config.json"),
    )
    .unwrap();
    std::fs::copy(
        model_dir().join("tokenizer.json"),
        dir.path().join("tokenizer.json"),
    )
    .unwrap();
    std::fs::write(dir.path().join("model.safetensors"), b"not a tensor file").unwrap();
    let err = SentenceEncoder::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("model.safetensors"), "{err}");
}

mod cache {
    use super::*;
    use baton::encoder::EmbeddingCache;

    #[test]
    fn only_new_texts_are_embedded_and_the_cache_survives_a_restart() {
        let encoder = baton::encoder::LanguageEncoders::single(std::sync::Arc::new(load()));
        let dir = tempfile::tempdir().unwrap();
        let cache = EmbeddingCache::open(Some(dir.path()), &encoder);
        let first = cache
            .embed_all(
                &encoder,
                &["退款多久到账", "where is my parcel", "退款多久到账"],
                2,
            )
            .unwrap();
        assert_eq!(cache.computed(), 2, "duplicates are embedded once");
        assert_eq!(first[0], first[2]);
        // An edit: one text changed, one kept.
        cache
            .embed_all(
                &encoder,
                &["where is my parcel", "how do i get an invoice"],
                2,
            )
            .unwrap();
        assert_eq!(cache.computed(), 3);

        // A restart reads the file: nothing is embedded again, vectors are identical.
        let reopened = EmbeddingCache::open(Some(dir.path()), &encoder);
        assert_eq!(reopened.len(), 3);
        let again = reopened
            .embed_all(&encoder, &["退款多久到账", "where is my parcel"], 2)
            .unwrap();
        assert_eq!(reopened.computed(), 0);
        assert_eq!(again[0], first[0]);
        let fresh = encoder.embed_many(&["where is my parcel"]).unwrap();
        assert!((dot(&again[1], &fresh[0]) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn a_torn_cache_file_loses_only_its_last_record() {
        let encoder = baton::encoder::LanguageEncoders::single(std::sync::Arc::new(load()));
        let dir = tempfile::tempdir().unwrap();
        let cache = EmbeddingCache::open(Some(dir.path()), &encoder);
        cache.embed_all(&encoder, &["one", "two"], 1).unwrap();
        let file = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let len = std::fs::metadata(&file).unwrap().len();
        // A crash mid-append leaves part of a record behind.
        let f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
        f.set_len(len - 100).unwrap();
        let reopened = EmbeddingCache::open(Some(dir.path()), &encoder);
        assert_eq!(reopened.len(), 1);
        // Appending after the torn record realigns the file.
        reopened
            .embed_all(&encoder, &["one", "two", "three"], 1)
            .unwrap();
        let third = EmbeddingCache::open(Some(dir.path()), &encoder);
        assert_eq!(third.len(), 3);
    }
}

mod pool {
    use super::*;
    use baton::encoder::{EncoderError, EncoderPool, PoolOptions};
    use std::sync::Arc;

    #[tokio::test]
    async fn concurrent_messages_share_batches_and_get_their_own_vectors() {
        let encoder = Arc::new(baton::encoder::LanguageEncoders::single(Arc::new(load())));
        let pool = Arc::new(EncoderPool::start(
            encoder.clone(),
            PoolOptions {
                workers: 1,
                queue: 64,
                max_batch: 8,
                cached_messages: 0,
            },
        ));
        let texts: Vec<String> = (0..24)
            .map(|i| format!("where is order number {i}"))
            .collect();
        let handles: Vec<_> = texts
            .iter()
            .map(|t| {
                let pool = pool.clone();
                let t = t.clone();
                tokio::spawn(async move { pool.embed(&t).await })
            })
            .collect();
        for (h, t) in handles.into_iter().zip(&texts) {
            let got = h.await.unwrap().unwrap();
            let alone = encoder.embed_many(&[t.as_str()]).unwrap().remove(0);
            assert!((dot(&got, &alone) - 1.0).abs() < 1e-4, "{t}");
        }
    }

    #[tokio::test]
    async fn a_full_queue_fails_fast() {
        let pool = Arc::new(EncoderPool::start(
            Arc::new(baton::encoder::LanguageEncoders::single(Arc::new(load()))),
            PoolOptions {
                workers: 1,
                queue: 1,
                max_batch: 1,
                cached_messages: 0,
            },
        ));
        let long = "please tell me about the return policy for large furniture ".repeat(20);
        let handles: Vec<_> = (0..40)
            .map(|_| {
                let pool = pool.clone();
                let long = long.clone();
                tokio::spawn(async move { pool.embed(&long).await })
            })
            .collect();
        let mut busy = 0;
        let mut ok = 0;
        for h in handles {
            match h.await.unwrap() {
                Ok(_) => ok += 1,
                Err(EncoderError::Busy) => busy += 1,
                Err(e) => panic!("unexpected {e}"),
            }
        }
        assert!(ok >= 1 && busy >= 1, "ok {ok}, busy {busy}");
    }
}
