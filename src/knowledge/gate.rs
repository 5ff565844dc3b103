//! Whether a message needs the sentence encoder, or the cheap models alone already give the
//! answer the encoder would.
//!
//! A forward pass costs 10–40 ms of a core; the n-gram classifier and BM25 cost about 0.1 ms.
//! The bot turn ([`crate::dialogue::respond`]) first understands a text it has not seen with
//! the cheap models, and asks [`EncoderGate::is_sure`]; only when it says no does the text
//! wait for the encoder and get understood again with the vector. The rule follows the bot's
//! decision ([`crate::dialogue::policy::decide`]), which the vector can change only through
//! the intent or the best FAQ. The cheap understanding stands when
//! - the text says what one FAQ's question or alternate says (the lexical overlap of BM25's
//!   best FAQ is at least `faq_overlap`, and at least the policy's answer threshold) and the
//!   n-gram intent does not take the turn with a reply or handoff of its own: the bot answers
//!   that FAQ. `baton eval kb` reports `encoder_gate`, recall@1 with BM25's top wherever the
//!   overlap is this high beside the hybrid's everywhere: no loss at 0.95 on either set. The
//!   vector could still lift an unsure intent into a reply or handoff of its own; on the
//!   sample KB's own phrasings (with "请问"/"hi," in front too) the encoder path did not
//!   answer with the phrasing's own FAQ 8 % of the time, the gated one 3 %, the misses mostly
//!   mixed Chinese and English text (`tests/api/understanding.rs`); or
//! - the n-gram intent takes the turn with its own reply or handoff and is at least
//!   `intent_confidence` sure, so the FAQ candidates cannot change the decision and the
//!   encoder would not change the intent (`baton eval intents` reports `encoder_gate`: no loss
//!   at 0.99 on SMP2017, BANKING77 and CLINC150).
//!
//! Everything else — a paraphrase, an unsure intent that would reply or hand over, text the
//! KB does not say — is understood with the encoder as before. The intent recorded with a
//! turn answered without the encoder is the n-gram model's.

use crate::config::EncoderGate;
use crate::content::{Action, Content};
use crate::nlu::IntentPrediction;

// The thresholds are configuration (`[nlu.encoder_gate]`, defaults where the evaluation sets
// measured no loss); the rule that reads them is here.
impl EncoderGate {
    /// Whether what the cheap models made of a message — the n-gram classifier's `intent`,
    /// and `faq_overlap`, the lexical overlap of BM25's best FAQ (`None`: no FAQ found) — is
    /// what the bot would decide with the encoder too. `intent_threshold` and
    /// `faq_threshold` are the policy's, at which the bot acts on an intent or a FAQ.
    pub fn is_sure(
        &self,
        intent: &IntentPrediction,
        faq_overlap: Option<f32>,
        content: &Content,
        (intent_threshold, faq_threshold): (f32, f32),
    ) -> bool {
        if !self.enabled {
            return false;
        }
        let own_turn = content
            .intent(&intent.label)
            .filter(|_| !intent.out_of_scope && intent.confidence >= intent_threshold)
            .is_some_and(|i| matches!(i.action, Action::Reply | Action::Escalate));
        if own_turn {
            return intent.confidence >= self.intent_confidence;
        }
        faq_overlap.is_some_and(|overlap| overlap >= self.faq_overlap.max(faq_threshold))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::Intent;

    fn intent(id: &str, action: Action) -> Intent {
        let yaml = format!(
            "id: {id}\nskill: general\naction: {}\nreplies: {{en: ok, zh: 好}}\nfaqs: [f1]\nexamples: {{en: [a b], zh: [甲乙]}}\n",
            match action {
                Action::Faq => "faq",
                Action::Reply => "reply",
                Action::Escalate => "escalate",
                Action::OutOfScope => "out_of_scope",
            }
        );
        serde_norway::from_str(&yaml).expect("a valid intent")
    }

    fn content() -> Content {
        Content {
            intents: vec![
                intent("greeting", Action::Reply),
                intent("complaint", Action::Escalate),
                intent("refund", Action::Faq),
            ],
            ..Content::default()
        }
    }

    fn predicted(label: &str, confidence: f32) -> IntentPrediction {
        IntentPrediction {
            label: label.into(),
            confidence,
            out_of_scope: false,
            alternatives: Vec::new(),
        }
    }

    fn sure(label: &str, confidence: f32, faq_overlap: Option<f32>) -> bool {
        EncoderGate::default().is_sure(
            &predicted(label, confidence),
            faq_overlap,
            &content(),
            (0.6, 0.7),
        )
    }

    #[test]
    fn a_sure_intent_with_its_own_reply_or_handoff_needs_no_encoder() {
        assert!(sure("greeting", 0.995, None));
        assert!(sure("complaint", 0.999, Some(0.2)));
    }

    #[test]
    fn an_unsure_reply_or_handoff_goes_to_the_encoder_even_beside_a_plain_faq() {
        assert!(!sure("greeting", 0.9, Some(1.0)));
        assert!(!sure("complaint", 0.7, None));
    }

    #[test]
    fn a_plain_faq_match_stands_unless_an_intent_takes_the_turn() {
        assert!(sure("refund", 0.995, Some(1.0)));
        assert!(
            sure("refund", 0.4, Some(0.96)),
            "the FAQ answers either way"
        );
        assert!(sure("oos", 0.3, Some(0.97)));
        assert!(
            sure("greeting", 0.5, Some(1.0)),
            "below the policy's intent threshold"
        );
        assert!(!sure("refund", 0.995, Some(0.8)), "a paraphrase");
        assert!(!sure("refund", 0.995, None));
        assert!(!sure("oos", 0.999, Some(0.5)));
    }

    #[test]
    fn the_policys_own_thresholds_bound_the_rule() {
        let gate = EncoderGate::default();
        let mut flagged = predicted("greeting", 0.999);
        flagged.out_of_scope = true;
        assert!(
            !gate.is_sure(&flagged, None, &content(), (0.6, 0.7)),
            "a flagged intent is not acted on, and there is no FAQ"
        );
        assert!(
            !gate.is_sure(
                &predicted("refund", 0.5),
                Some(0.96),
                &content(),
                (0.6, 0.98)
            ),
            "a FAQ the bot would not answer on its own"
        );
    }

    #[test]
    fn turned_off_it_always_asks_for_the_encoder() {
        let gate = EncoderGate {
            enabled: false,
            ..EncoderGate::default()
        };
        assert!(!gate.is_sure(
            &predicted("greeting", 1.0),
            Some(1.0),
            &content(),
            (0.6, 0.7)
        ));
    }
}
