//! What Baton itself says (as opposed to FAQ answers and intent replies, which editors
//! write), in both languages.

use crate::handoff::Availability;
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

/// Told a shopper the shop has blocked: polite, and saying nothing of why (the reason is
/// for the team). Both languages, since it may come before the conversation has one.
pub const BLOCKED: &str =
    "抱歉，我们暂时无法在这里为您提供服务。Sorry, we can't take your messages here at the moment.";

/// Told a shopper whose message a word list refused: it was not sent, and they may say it
/// another way.
pub fn message_not_sent(lang: Lang) -> &'static str {
    match lang {
        Lang::Zh => "抱歉，您的消息包含不能发送的内容，没有发出。请换一种说法再试。",
        Lang::En => {
            "Sorry, your message contains words we can't accept, so it was not sent. Please say it another way."
        }
    }
}

/// Told when the shopper's request for a person is handled. `hours` is like `09:00–22:00`.
pub fn handoff(lang: Lang, availability: Availability, hours: &str, timezone: &str) -> String {
    match (lang, availability) {
        (Lang::Zh, Availability::OnDuty) => "正在为您转接人工客服，请稍候。您的对话记录已同步给客服，无需重复描述问题。".to_string(),
        (Lang::Zh, Availability::NobodyOnline) => "已为您转接人工客服，但目前暂时没有客服在线，可能需要多等一会儿。您可以继续等待，也可以留言并留下联系方式，客服会尽快联系您；其间我仍可以回答常见问题。".to_string(),
        (Lang::Zh, Availability::OffHours) => format!(
            "人工客服的工作时间是每天 {hours}（{}），现在不在工作时间。您可以留言并留下联系方式，客服上班后会第一时间联系您；其间我仍可以回答常见问题。",
            zone_name_zh(timezone)
        ),
        (Lang::En, Availability::OnDuty) => "I'm connecting you with a member of our team. Please hold on — they will see this whole conversation, so you won't need to repeat anything.".to_string(),
        (Lang::En, Availability::NobodyOnline) => "I've asked our team to take over, but nobody is online right this moment, so it may take a while. You can wait here, or leave a message with your contact details and we'll get back to you. I can still answer common questions meanwhile.".to_string(),
        (Lang::En, Availability::OffHours) => format!(
            "Our team works {hours} ({timezone}) every day and is offline right now. Leave a message with your contact details and they will get back to you as soon as they are back; I can still answer common questions meanwhile."
        ),
    }
}

/// The shopper's place in the queue.
pub fn queue_position(lang: Lang, position: u32, eta_seconds: Option<i64>) -> String {
    let minutes = eta_seconds.map(|s| ((s + 59) / 60).max(1));
    let place = match (lang, position) {
        (Lang::Zh, 0 | 1) => "马上轮到您".to_string(),
        (Lang::Zh, p) => format!("您前面还有 {} 位顾客", p - 1),
        (Lang::En, 0 | 1) => "You're next in the queue".to_string(),
        (Lang::En, p) => format!("You are number {p} in the queue"),
    };
    match (lang, minutes) {
        (Lang::Zh, Some(m)) => format!("{place}，预计等待约 {m} 分钟。"),
        (Lang::Zh, None) => format!("{place}。暂时没有客服在线，请耐心等待或留言。"),
        (Lang::En, Some(m)) => format!(
            "{place}; the estimated wait is about {m} minute{}.",
            if m == 1 { "" } else { "s" }
        ),
        (Lang::En, None) => {
            format!("{place}. Nobody is online right now; you can wait or leave a message.")
        }
    }
}

/// An agent took the conversation.
pub fn agent_joined(lang: Lang, name: &str) -> String {
    match lang {
        Lang::Zh => format!("客服 {name} 为您服务，已看过您之前的对话。"),
        Lang::En => {
            format!("{name} from our team has joined and has read the conversation so far.")
        }
    }
}

/// The conversation moved to another group or agent.
pub fn transferred(lang: Lang) -> &'static str {
    match lang {
        Lang::Zh => "正在为您转接更合适的客服，请稍候，对话记录会一并转交。",
        Lang::En => {
            "I'm passing you to a colleague who can help better. Please hold on; they will see this conversation."
        }
    }
}

/// The agent resolved the conversation; ask for a rating.
pub fn resolved(lang: Lang) -> &'static str {
    match lang {
        Lang::Zh => {
            "本次服务已结束，感谢您的耐心。请为本次服务打分（1–5 分），也欢迎留下您的意见。如还有其他问题，直接发消息即可。"
        }
        Lang::En => {
            "This conversation has been resolved — thank you for your patience. Please rate our help from 1 to 5, and add a comment if you like. If anything else comes up, just write here."
        }
    }
}

/// The agent handed the conversation back to the bot.
pub fn returned_to_bot(lang: Lang) -> &'static str {
    match lang {
        Lang::Zh => {
            "人工客服已结束接待，接下来由智能助手继续为您服务。如需人工，随时输入“转人工”。"
        }
        Lang::En => {
            "Our team member has handed you back to the assistant. Type \"talk to a person\" any time to reach the team again."
        }
    }
}

/// A message for the team was received.
pub fn ticket_received(lang: Lang) -> &'static str {
    match lang {
        Lang::Zh => "您的留言已收到，客服会尽快通过您留下的联系方式联系您。",
        Lang::En => "Thanks — we've got your message and will contact you as soon as we can.",
    }
}

/// A FAQ's request was left as a task for its group (`handoff: notify`).
pub fn passed_to_team(lang: Lang) -> &'static str {
    match lang {
        Lang::Zh => "已为您把这个需求转交给客服同事，他们会尽快处理。",
        Lang::En => "I've passed this on to our team; they'll take care of it as soon as they can.",
    }
}

/// The "talk to a person" button under an answer (`handoff: offer`): a tap sends words the
/// bot reads as a request for a person, so it works in every client that shows buttons.
pub fn talk_to_person_button(lang: Lang) -> crate::conversation::Button {
    let (label, value) = match lang {
        Lang::Zh => ("转人工客服", "转人工"),
        Lang::En => ("Talk to a person", "talk to a person"),
    };
    crate::conversation::Button {
        label: label.into(),
        value: value.into(),
    }
}

/// Why the bot answers in a group where a person answers first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BotStandsIn {
    /// Everyone of the group is busy beyond the wait the shop accepts.
    Busy,
    NobodyOnline,
    OffHours,
}

/// Told once, before the bot's first answer in a human-first group nobody can take soon.
pub fn bot_stands_in(lang: Lang, why: BotStandsIn) -> &'static str {
    match (lang, why) {
        (Lang::Zh, BotStandsIn::Busy) => {
            "人工客服正忙，需要等一会儿，先由智能助手为您解答；需要人工时随时输入“转人工”。"
        }
        (Lang::Zh, BotStandsIn::NobodyOnline) => {
            "目前暂时没有客服在线，先由智能助手为您解答；需要人工时随时输入“转人工”。"
        }
        (Lang::Zh, BotStandsIn::OffHours) => {
            "人工客服已下班，先由智能助手为您解答；也可以留言，客服上班后联系您。"
        }
        (Lang::En, BotStandsIn::Busy) => {
            "Our team is busy and you would have to wait, so the assistant will help you meanwhile; type \"talk to a person\" any time."
        }
        (Lang::En, BotStandsIn::NobodyOnline) => {
            "Nobody from our team is online right now, so the assistant will help you meanwhile; type \"talk to a person\" any time."
        }
        (Lang::En, BotStandsIn::OffHours) => {
            "Our team is off for now, so the assistant will help you; you can also leave a message for them."
        }
    }
}

/// Thanks for a rating.
pub fn rated(lang: Lang) -> &'static str {
    match lang {
        Lang::Zh => "感谢您的评价！",
        Lang::En => "Thank you for your feedback!",
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
