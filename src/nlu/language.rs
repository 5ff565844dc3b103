//! Which language a shopper wrote in, so the bot answers in the same one.

use serde::{Deserialize, Serialize};

use super::normalize::is_cjk;

/// The languages Baton answers in.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    PartialOrd,
    Ord,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// Parses `zh`, `zh-CN`, `en-US` …; anything else is `None`.
    pub fn from_locale(locale: &str) -> Option<Lang> {
        let primary = locale.split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "zh" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The language of `text`, or `fallback` when it has no letters to judge by (emoji,
    /// digits, an order number alone).
    pub fn detect(text: &str, fallback: Lang) -> Lang {
        let (mut cjk, mut latin) = (0usize, 0usize);
        let mut word = (0usize, false);
        // Letters of a word with digits in it (MM202611110001, iPhone15) are a code, not English.
        let end_word = |word: &mut (usize, bool), latin: &mut usize| {
            if !word.1 {
                *latin += word.0;
            }
            *word = (0, false);
        };
        for c in text.chars() {
            if c.is_ascii_alphabetic() {
                word.0 += 1;
            } else if c.is_ascii_digit() {
                word.1 = true;
            } else {
                end_word(&mut word, &mut latin);
                if is_cjk(c) {
                    cjk += 1;
                }
            }
        }
        end_word(&mut word, &mut latin);
        // One Chinese character carries roughly a word; weigh it like ~3 latin letters.
        match (cjk, latin) {
            (0, 0) => fallback,
            (c, l) if c * 3 >= l => Lang::Zh,
            _ => Lang::En,
        }
    }
}

impl std::fmt::Display for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_script() {
        assert_eq!(Lang::detect("我的订单到哪了", Lang::En), Lang::Zh);
        assert_eq!(Lang::detect("where is my order", Lang::Zh), Lang::En);
        assert_eq!(Lang::detect("AirPods 什么时候发货", Lang::En), Lang::Zh);
        assert_eq!(Lang::detect("MM202611110001", Lang::Zh), Lang::Zh);
        assert_eq!(Lang::detect("👍", Lang::En), Lang::En);
    }

    #[test]
    fn locales() {
        assert_eq!(Lang::from_locale("zh-CN"), Some(Lang::Zh));
        assert_eq!(Lang::from_locale("en_US"), Some(Lang::En));
        assert_eq!(Lang::from_locale("fr"), None);
    }
}
