//! One encoder per language: English-only text to one model, text with Chinese (or any CJK)
//! characters to another, each chosen by measurement (`baton eval`, README "Measured").
//!
//! Data flow: texts → long numbers read by length ([`super::numbers`]) → split by script (a
//! text with any CJK character goes to the Chinese model, which reads mixed text; the English
//! model cannot read CJK at all) → each group embedded by its model → every vector placed in
//! its model's block of one longer vector, zeros elsewhere.
//!
//! Why blocks: everything downstream — the content cache, the classifier's linear head, FAQ
//! similarity, near-duplicate checks — takes one vector per text and compares by dot
//! product. With blocks, two texts read by different models have similarity 0 (their spaces
//! are unrelated) and a linear head learns each block separately, so each language gets its
//! best model without any consumer knowing there are two. With one model (or the same for
//! both), the vectors are exactly that model's.

use std::borrow::Cow;
use std::sync::Arc;

use super::model::{EncoderError, SentenceEncoder};
use super::numbers;
use super::similarity::Reader;

/// The models and which reads what.
pub struct LanguageEncoders {
    english: Arc<SentenceEncoder>,
    /// `None`: the English model reads everything.
    chinese: Option<Arc<SentenceEncoder>>,
    fingerprint: String,
    name: String,
}

impl std::fmt::Debug for LanguageEncoders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LanguageEncoders")
            .field("name", &self.name)
            .field("dim", &self.dim())
            .finish()
    }
}

/// True when `text` has a Han, kana or Hangul character.
pub fn has_cjk(text: &str) -> bool {
    text.chars().any(|c| {
        matches!(c as u32,
            0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF
            | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
    })
}

impl LanguageEncoders {
    /// One model for all text.
    pub fn single(model: Arc<SentenceEncoder>) -> LanguageEncoders {
        Self::new(model, None)
    }

    /// `english` for text without CJK characters, `chinese` (when given and different)
    /// for the rest.
    pub fn new(
        english: Arc<SentenceEncoder>,
        chinese: Option<Arc<SentenceEncoder>>,
    ) -> LanguageEncoders {
        let chinese = chinese.filter(|c| c.fingerprint() != english.fingerprint());
        let (models, name) = match &chinese {
            None => (
                english.fingerprint().to_string(),
                english.name().to_string(),
            ),
            Some(c) => (
                format!("{}+{}", english.fingerprint(), c.fingerprint()),
                format!("{} (en) + {} (zh)", english.name(), c.name()),
            ),
        };
        // How the text is read is part of what a vector means: cached vectors of another
        // reading are never mixed in.
        let fingerprint = format!(
            "{:032x}",
            xxhash_rust::xxh3::xxh3_128(format!("{models}|{}", numbers::READING).as_bytes())
        );
        LanguageEncoders {
            english,
            chinese,
            fingerprint,
            name,
        }
    }

    /// Length of the vectors: the models' dimensions added up.
    pub fn dim(&self) -> usize {
        self.english.dim() + self.chinese.as_ref().map_or(0, |c| c.dim())
    }

    /// Identifies the models and how they are combined.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// True when Chinese text is read by a model trained on Chinese.
    pub fn reads_chinese(&self) -> bool {
        self.chinese
            .as_ref()
            .unwrap_or(&self.english)
            .is_multilingual()
    }

    /// True when Chinese text has a model of its own.
    pub fn routes_chinese(&self) -> bool {
        self.chinese.is_some()
    }

    /// The model that reads `text`, for its cosine scale; `None` when that model cannot read
    /// it (Chinese text without a Chinese-capable model: its vector would say nothing).
    pub fn reader_of(&self, text: &str) -> Option<Reader> {
        let model = match &self.chinese {
            Some(chinese) if has_cjk(text) => chinese,
            _ => &self.english,
        };
        if model.is_multilingual() {
            Some(Reader::MultilingualE5)
        } else if has_cjk(text) {
            None
        } else {
            Some(Reader::Bert)
        }
    }

    /// Embeds `texts`, each by its language's model and with its long numbers read by
    /// length ([`numbers::for_encoder`]); results in the order of `texts`.
    pub fn embed_many(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EncoderError> {
        let read: Vec<Cow<'_, str>> = texts.iter().map(|t| numbers::for_encoder(t)).collect();
        let texts: Vec<&str> = read.iter().map(|t| t.as_ref()).collect();
        let texts = texts.as_slice();
        let Some(chinese_model) = &self.chinese else {
            return self.english.embed_many(texts);
        };
        let mut out = vec![vec![0f32; self.dim()]; texts.len()];
        let (cjk, other): (Vec<usize>, Vec<usize>) =
            (0..texts.len()).partition(|&i| has_cjk(texts[i]));
        let groups = [
            (other, &self.english, 0),
            (cjk, chinese_model, self.english.dim()),
        ];
        for (picked, model, offset) in groups {
            if picked.is_empty() {
                continue;
            }
            let group: Vec<&str> = picked.iter().map(|&i| texts[i]).collect();
            for (&i, v) in picked.iter().zip(model.embed_many(&group)?) {
                out[i][offset..offset + v.len()].copy_from_slice(&v);
            }
        }
        Ok(out)
    }

    /// Embeds one text.
    pub fn embed_one(&self, text: &str) -> Result<Vec<f32>, EncoderError> {
        self.embed_many(&[text])?.pop().ok_or(EncoderError::Stopped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_cjk_character_routes_to_the_chinese_model() {
        assert!(has_cjk("我的订单"));
        assert!(has_cjk("my order 订单 is late"));
        assert!(has_cjk("ありがとう"));
        assert!(!has_cjk("Where is my order? #A-1029 😊"));
        assert!(!has_cjk("café ÉTÉ"));
        assert!(
            !has_cjk("，。！"),
            "CJK punctuation alone is not Chinese text"
        );
    }
}
