//! What Baton itself says (as opposed to FAQ answers and intent replies, which editors
//! write), in both languages.

use crate::nlu::Lang;

/// "Did you mean …?" lead-in, or the plain "I did not understand" when there is nothing to offer.
pub fn clarify(lang: Lang, has_suggestions: bool) -> &'static str {
    match (lang, has_suggestions) {
        (Lang::Zh, true) => {
            "抱歉，我不太确定您的意思。您是想问下面哪个问题吗？也可以换个说法，或输入“转人工”联系人工客服。"
        }
        (Lang::Zh, false) => {
            "抱歉，我没有理解您的问题。可以换个说法再问一次，或输入“转人工”联系人工客服。"
        }
        (Lang::En, true) => {
            "Sorry, I'm not sure what you mean. Did you mean one of these? You can also rephrase, or type \"talk to a person\"."
        }
        (Lang::En, false) => {
            "Sorry, I didn't understand that. Could you rephrase it? Or type \"talk to a person\" to reach our team."
        }
    }
}

/// Told when the conversation joins the queue. `hours` is like `09:00–22:00`.
pub fn queued(lang: Lang, agents_on_duty: bool, hours: &str, timezone: &str) -> String {
    match (lang, agents_on_duty) {
        (Lang::Zh, true) => "正在为您转接人工客服，请稍候。您的对话记录已同步给客服，无需重复描述问题。".to_string(),
        (Lang::Zh, false) => format!(
            "已为您转接人工客服。人工客服的工作时间是每天 {hours}（{}），现在不在工作时间，客服上班后会第一时间回复您；对话记录已同步，无需重复描述。其间我仍可以回答常见问题。",
            zone_name_zh(timezone)
        ),
        (Lang::En, true) => "I'm connecting you with a member of our team. Please hold on — they will see this whole conversation, so you won't need to repeat anything.".to_string(),
        (Lang::En, false) => format!(
            "I've passed your conversation to our team. They work {hours} ({timezone}) every day and are offline right now; they will reply as soon as they are back and will see this whole conversation."
        ),
    }
}

/// Told when the shopper asks for a person while already waiting for one.
pub fn already_queued(lang: Lang) -> &'static str {
    match lang {
        Lang::Zh => "您已在人工客服队列中，请稍候，客服会尽快回复您。",
        Lang::En => "You're already in the queue for our team; someone will be with you shortly.",
    }
}

fn zone_name_zh(tz: &str) -> String {
    match tz {
        "Asia/Shanghai" | "Asia/Chongqing" | "PRC" => "北京时间".to_string(),
        other => other.to_string(),
    }
}
