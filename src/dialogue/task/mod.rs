//! Order tasks: the bot doing the shop's work inside the conversation — looking an order up,
//! showing its parcel's trace or its refund, cancelling it or changing its address — as the
//! intent's `task:` block declares ([`crate::content::task::TaskSpec`]).
//!
//! ```text
//! a message ─► step: a task waits? ─ never mind ─► leave
//!                 │                 ├ confirm: yes ─► reads again, check, write (idempotency key)
//!                 │                 │          no  ─► leave, order unchanged
//!                 │                 ├ the value it waits for ─► advance
//!                 │                 ├ another task asked for ─► start that one instead
//!                 │                 └ anything else understood ─► answered as usual; task waits
//!                 └ no task: a confident task intent (or a bare order number) ─► start
//! advance: page values ─► order number (typed / picked from recent orders) ─► guest's phone
//!          ─► address / product ─► reads (owner checked) ─► reply + card, or check + confirm
//! ```
//!
//! Identity: a shop-verified customer's id goes with every call and an answer about anyone
//! else is refused ([`crate::shop::CallOutcome::WrongCustomer`]); a guest gives the order
//! number and the phone's last four digits, which the shop checks. Any failed call hands the
//! conversation over (`action_failed`) with the calls' traces stored on the turn. The bot
//! asks for a value at most [`MAX_ASKS`] times, then hands over.

pub mod say;
pub mod slots;

use std::collections::BTreeMap;

use crate::config::PolicyConfig;
use crate::content::Intent;
use crate::content::task::{Handling, Need, TaskSpec};
use crate::conversation::{Outgoing, ReplyMeta};
use crate::dialogue_memory::{DialogueMemory, PendingTask, Waiting};
use crate::handoff::{AuditEntry, Escalation, EscalationReason, Ticket};
use crate::knowledge::Knowledge;
use crate::nlu::Lang;
use crate::shop::{CallOutcome, CallTrace, ShopClient, Values};
use crate::vocabulary::Priority;

use super::policy::Facts;
use super::turn::Analysis;

/// Times the bot asks for one value before handing over.
pub const MAX_ASKS: u32 = 3;

/// What a turn needs to run order tasks.
#[derive(Debug, Clone, Copy)]
pub struct OrderContext<'a> {
    pub shop: &'a ShopClient,
    /// The shop-verified customer; `None` for a guest (an unsigned claim never counts).
    pub customer_id: Option<&'a str>,
    pub memory: &'a DialogueMemory,
    pub conversation_id: &'a str,
    /// The message's idempotency key: a retried confirmation derives the same write key.
    pub client_msg_id: &'a str,
    pub now_ms: i64,
}

/// A turn an order task took.
#[derive(Debug, Clone, Default)]
pub struct TaskTurn {
    pub intent: String,
    pub replies: Vec<Outgoing>,
    pub escalation: Option<Escalation>,
    pub calls: Vec<CallTrace>,
    pub audit: Vec<AuditEntry>,
    pub ticket: Option<Ticket>,
}

/// What the task layer made of a message.
#[derive(Debug)]
pub enum TaskStep {
    /// Not a task's turn: the usual plan answers. `memory` is the new memory if it changed.
    Pass { memory: Option<DialogueMemory> },
    /// A task took the turn.
    Took {
        turn: Box<TaskTurn>,
        memory: DialogueMemory,
    },
}

/// Runs the task layer over one analysed message. `text` is the message as typed (order
/// numbers keep their case).
pub async fn step(
    knowledge: &Knowledge,
    policy: &PolicyConfig,
    analysis: &Analysis,
    text: &str,
    facts: &Facts,
    ctx: OrderContext<'_>,
) -> TaskStep {
    let mut memory = ctx.memory.clone();
    if facts.state.human_owned() {
        return TaskStep::Pass { memory: None };
    }
    // A person asked for, or an upset shopper: the handoff rules decide; a waiting task ends.
    if analysis.asked_for_human || analysis.negative {
        return match memory.task.take() {
            Some(_) => TaskStep::Pass {
                memory: Some(memory),
            },
            None => TaskStep::Pass { memory: None },
        };
    }
    let calls = &knowledge.content.shop;
    let typed_number = calls.find_order_number(text).map(str::to_string);
    let confident = confident_intent(knowledge, policy, analysis);
    let confident_task = confident.filter(|i| i.task.is_some());
    let mut run = Run {
        knowledge,
        ctx,
        lang: analysis.lang,
        turn: TaskTurn::default(),
    };

    if let Some(pending) = memory.task.clone() {
        let Some((intent, spec)) = task_of(knowledge, &pending.intent) else {
            memory.task = None;
            return TaskStep::Pass {
                memory: Some(memory),
            };
        };
        run.turn.intent = intent.id.clone();
        if slots::never_mind(text) && pending.waiting != Waiting::Confirm {
            memory.task = None;
            run.say(say::left_task(run.lang));
            return run.took(memory);
        }
        if pending.waiting == Waiting::Confirm {
            match slots::yes_or_no(text) {
                Some(true) => {
                    run.write(intent, spec, &mut memory).await;
                    return run.took(memory);
                }
                Some(false) => {
                    memory.task = None;
                    run.say(say::declined(run.lang));
                    return run.took(memory);
                }
                None => {}
            }
        } else if fill(&pending, text, typed_number.as_deref(), &mut memory) {
            run.advance(intent, spec, &mut memory).await;
            return run.took(memory);
        }
        // Not the value it waits for.
        match confident {
            // Another task asked for outright (not a general question about it, such as
            // "how long does a refund take?", which is answered while this one waits).
            Some(other)
                if other.task.is_some()
                    && other.id != intent.id
                    && (typed_number.is_some() || !slots::is_question(text)) =>
            {
                let (other, spec) = (other, other.task.as_ref().unwrap_or(spec));
                run.turn.intent = other.id.clone();
                start(&mut memory, &other.id, typed_number.as_deref());
                run.advance(other, spec, &mut memory).await;
                return run.took(memory);
            }
            Some(same) if same.id == intent.id && typed_number.is_none() => {
                // Asked again in other words: ask for the value again.
            }
            Some(_) => {
                // A new question in the middle: answered as usual; the task keeps waiting.
                if pending.waiting == Waiting::Confirm {
                    memory.task = None;
                    return TaskStep::Pass {
                        memory: Some(memory),
                    };
                }
                return TaskStep::Pass { memory: None };
            }
            None if !analysis.faq_hits.is_empty()
                && analysis.faq_hits[0].confidence >= policy.faq_threshold
                && slots::is_question(text) =>
            {
                return TaskStep::Pass { memory: None };
            }
            None => {}
        }
        run.ask_again(intent, &pending, &mut memory);
        return run.took(memory);
    }

    let start_with = confident_task.or_else(|| {
        // A bare order number (or one with words the bot did not understand) starts the
        // intent that says so.
        typed_number.as_ref()?;
        if confident.is_some() {
            return None;
        }
        knowledge
            .content
            .intents
            .iter()
            .find(|i| i.task.as_ref().is_some_and(|t| t.on_order_number))
    });
    match start_with {
        Some(intent) => {
            let Some(spec) = intent.task.as_ref() else {
                return TaskStep::Pass { memory: None };
            };
            let page_order = memory.page.as_ref().and_then(|p| p.order_number.as_ref());
            let general_question = analysis
                .faq_hits
                .first()
                .filter(|h| h.confidence >= policy.faq_threshold)
                .is_some_and(|h| spec.answer_faqs.contains(&h.faq_id));
            if general_question && typed_number.is_none() && page_order.is_none() {
                return TaskStep::Pass { memory: None };
            }
            run.turn.intent = intent.id.clone();
            start(&mut memory, &intent.id, typed_number.as_deref());
            if spec.needs(Need::Order) && ctx.customer_id.is_none() {
                // A guest may give the phone digits with the number in one message.
                if let Some(phone) = typed_number.as_ref().and_then(|_| {
                    slots::phone_last4(&text.replace(typed_number.as_deref().unwrap_or(""), " "))
                }) {
                    memory.known.insert("phone_last4".into(), phone);
                }
            }
            if spec.needs(Need::Sku) {
                match slots::sku(text).or_else(|| memory.page.as_ref()?.sku.clone()) {
                    Some(sku) => {
                        memory.known.insert("sku".into(), sku);
                    }
                    // No product in sight (not typed, not on the page): the intent's usual
                    // answer (how stock and restock work) serves better than a question
                    // about product codes.
                    None => return TaskStep::Pass { memory: None },
                }
            }
            run.advance(intent, spec, &mut memory).await;
            run.took(memory)
        }
        None => match typed_number {
            Some(n) if memory.known.get("order_number") != Some(&n) => {
                memory.known.insert("order_number".into(), n);
                TaskStep::Pass {
                    memory: Some(memory),
                }
            }
            _ => TaskStep::Pass { memory: None },
        },
    }
}

fn confident_intent<'k>(
    knowledge: &'k Knowledge,
    policy: &PolicyConfig,
    analysis: &Analysis,
) -> Option<&'k Intent> {
    if analysis.intent.out_of_scope || analysis.intent.confidence < policy.intent_threshold {
        return None;
    }
    knowledge.content.intent(&analysis.intent.label)
}

fn task_of<'k>(knowledge: &'k Knowledge, intent: &str) -> Option<(&'k Intent, &'k TaskSpec)> {
    let intent = knowledge.content.intent(intent)?;
    Some((intent, intent.task.as_ref()?))
}

/// A new task; an order number typed with the request replaces the remembered one.
fn start(memory: &mut DialogueMemory, intent: &str, typed_number: Option<&str>) {
    memory.task = Some(PendingTask {
        intent: intent.to_string(),
        waiting: Waiting::OrderNumber,
        asked: 0,
    });
    // Values that belong to one request only.
    memory.known.remove("address");
    if let Some(n) = typed_number
        && memory.known.get("order_number").map(String::as_str) != Some(n)
    {
        memory.known.insert("order_number".into(), n.to_string());
    }
}

/// Takes the value a waiting task asked for from the message; whether it found it.
fn fill(
    pending: &PendingTask,
    text: &str,
    typed_number: Option<&str>,
    memory: &mut DialogueMemory,
) -> bool {
    let known = &mut memory.known;
    match pending.waiting {
        Waiting::OrderNumber | Waiting::OrderChoice => match typed_number {
            Some(n) => {
                known.insert("order_number".into(), n.to_string());
                if let Some(phone) = slots::phone_last4(&text.replace(n, " ")) {
                    known.insert("phone_last4".into(), phone);
                }
                true
            }
            None => false,
        },
        Waiting::PhoneLast4 => match slots::phone_last4(text) {
            Some(p) if text.trim().chars().count() <= 20 => {
                known.insert("phone_last4".into(), p);
                true
            }
            _ => false,
        },
        Waiting::Address => match slots::address(text) {
            Some(a) => {
                known.insert("address".into(), a);
                true
            }
            None => false,
        },
        Waiting::Sku => match slots::sku(text) {
            Some(s) => {
                known.insert("sku".into(), s);
                true
            }
            None => false,
        },
        Waiting::Confirm => false,
    }
}

/// One turn's work on a task.
struct Run<'a> {
    knowledge: &'a Knowledge,
    ctx: OrderContext<'a>,
    lang: Lang,
    turn: TaskTurn,
}

type Fields = serde_json::Map<String, serde_json::Value>;

/// How the reads went.
enum Reads {
    Done(Fields),
    /// The shop does not know the order (or it is not this shopper's).
    NotFound,
    /// A call failed; the conversation is being handed over.
    Failed,
}

impl<'a> Run<'a> {
    fn took(self, memory: DialogueMemory) -> TaskStep {
        TaskStep::Took {
            turn: Box::new(self.turn),
            memory,
        }
    }

    fn say(&mut self, text: impl Into<String>) {
        let intent = self.turn.intent.clone();
        self.turn.replies.push(say::message(&intent, text));
    }

    fn say_with(&mut self, text: impl Into<String>, meta: impl FnOnce(&mut ReplyMeta)) {
        let mut m = say::message(&self.turn.intent, text);
        meta(&mut m.meta);
        self.turn.replies.push(m);
    }

    fn wait(&mut self, memory: &mut DialogueMemory, waiting: Waiting) {
        let asked = match &memory.task {
            Some(t) if t.waiting == waiting => t.asked + 1,
            _ => 1,
        };
        if let Some(t) = memory.task.as_mut() {
            t.waiting = waiting;
            t.asked = asked;
        }
    }

    fn values(&self, memory: &DialogueMemory) -> Values {
        let mut v: Values = memory.known.clone();
        match self.ctx.customer_id {
            Some(id) => {
                v.insert("customer_id".into(), id.to_string());
                // A verified customer's own id is the identity; no second factor is sent.
                v.remove("phone_last4");
            }
            None => {
                v.remove("customer_id");
            }
        }
        v
    }

    /// Fills what is missing, asking for the first missing value, then reads and answers.
    async fn advance(&mut self, intent: &Intent, spec: &TaskSpec, memory: &mut DialogueMemory) {
        let page = memory.page.clone().unwrap_or_default();
        if spec.needs(Need::Order)
            && !memory.known.contains_key("order_number")
            && let Some(n) = page.order_number.clone()
        {
            memory.known.insert("order_number".into(), n);
        }
        if spec.needs(Need::Sku)
            && !memory.known.contains_key("sku")
            && let Some(s) = page.sku.clone()
        {
            memory.known.insert("sku".into(), s);
        }
        if spec.needs(Need::Order) && !memory.known.contains_key("order_number") {
            self.ask_for_order(memory).await;
            return;
        }
        if spec.needs(Need::Order)
            && self.ctx.customer_id.is_none()
            && !memory.known.contains_key("phone_last4")
        {
            self.wait(memory, Waiting::PhoneLast4);
            self.say(say::ask_phone(self.lang));
            return;
        }
        if spec.needs(Need::Sku) && !memory.known.contains_key("sku") {
            self.wait(memory, Waiting::Sku);
            self.say(say::ask_sku(self.lang));
            return;
        }
        let Some(fields) = self
            .read_or_settle(intent, spec, memory, Priority::Normal)
            .await
        else {
            return;
        };
        let calls = &self.knowledge.content.shop;
        let values = say::template_values(&fields, calls, self.lang);
        let Some(write) = &spec.write else {
            let text = say::render_text(&spec.reply, &values, self.lang);
            let card = say::card(
                &fields,
                calls,
                self.lang,
                spec.card,
                spec.timeline.as_deref(),
            );
            self.say_with(text, |m| m.card = card);
            memory.task = None;
            return;
        };
        if self.refused_by_check(spec, &fields, &values, memory) {
            return;
        }
        if spec.needs(Need::Address) && !memory.known.contains_key("address") {
            self.wait(memory, Waiting::Address);
            self.say(say::ask_address(self.lang));
            return;
        }
        if spec.handling == Handling::NotifyPerson {
            self.notify_person(intent, spec, write, &values, memory);
            return;
        }
        let mut values = values;
        if let (Some(map), Some(addr)) = (values.as_object_mut(), memory.known.get("address")) {
            map.insert("address".into(), addr.clone().into());
        }
        let question = spec
            .confirm
            .as_ref()
            .map(|t| say::render_text(t, &values, self.lang))
            .unwrap_or_default();
        let card = say::card(&fields, calls, self.lang, spec.card, None);
        let buttons = say::confirm_buttons(self.lang);
        self.say_with(question, |m| {
            m.card = card;
            m.buttons = buttons;
        });
        self.wait(memory, Waiting::Confirm);
    }

    /// A verified customer picks from their recent orders; a guest types the number.
    async fn ask_for_order(&mut self, memory: &mut DialogueMemory) {
        let calls = &self.knowledge.content.shop;
        if let (Some(customer), Some(decl)) = (self.ctx.customer_id, calls.get("recent_orders")) {
            let values = self.values(memory);
            let result = self
                .ctx
                .shop
                .call("recent_orders", decl, &values, None, Some(customer))
                .await;
            let outcome = result.outcome();
            self.turn.calls.push(result.trace);
            let buttons: Vec<_> = result
                .fields
                .get("orders")
                .and_then(|o| o.as_array())
                .map(|orders| {
                    orders
                        .iter()
                        // Only this customer's orders, whatever the shop returned.
                        .filter(|o| o.get("customer_id").and_then(|c| c.as_str()) == Some(customer))
                        .filter_map(|o| say::order_button(o, calls, self.lang))
                        .take(5)
                        .collect()
                })
                .unwrap_or_default();
            if outcome == CallOutcome::Ok && !buttons.is_empty() {
                self.wait(memory, Waiting::OrderChoice);
                self.say_with(say::ask_choice(self.lang), |m| m.buttons = buttons);
                return;
            }
        }
        self.wait(memory, Waiting::OrderNumber);
        self.say(say::ask_order_number(self.lang));
    }

    /// Runs the task's reads in order, merging their fields with the task's values.
    async fn reads(&mut self, spec: &TaskSpec, memory: &mut DialogueMemory) -> Reads {
        let calls = &self.knowledge.content.shop;
        let values = self.values(memory);
        let mut fields: Fields = values
            .iter()
            .filter(|(k, _)| k.as_str() != "phone_last4")
            .map(|(k, v)| (k.clone(), v.clone().into()))
            .collect();
        for read in &spec.reads {
            let Some(decl) = calls.get(read) else {
                continue;
            };
            let result = self
                .ctx
                .shop
                .call(read, decl, &values, None, self.ctx.customer_id)
                .await;
            let outcome = result.outcome();
            self.turn.calls.push(result.trace);
            match outcome {
                CallOutcome::Ok => fields.extend(result.fields),
                CallOutcome::NotFound => return Reads::NotFound,
                // A read the order's state does not allow yet (no trace before shipping):
                // answered from the other reads.
                CallOutcome::NotAllowed => {}
                _ => return Reads::Failed,
            }
        }
        if let Some(seen) = say::order_seen(&fields, calls, self.lang) {
            memory.saw_order(seen);
        }
        Reads::Done(fields)
    }

    /// The reads' fields; `None` when the turn is settled instead: the order was not found
    /// (asked again), or a call failed (handed over at `priority`).
    async fn read_or_settle(
        &mut self,
        intent: &Intent,
        spec: &TaskSpec,
        memory: &mut DialogueMemory,
        priority: Priority,
    ) -> Option<Fields> {
        match self.reads(spec, memory).await {
            Reads::Done(f) => Some(f),
            Reads::NotFound => {
                self.not_found(intent, spec, memory);
                None
            }
            Reads::Failed => {
                self.hand_over(intent, memory, priority);
                None
            }
        }
    }

    /// Whether the write's precondition (`allowed_if`) fails; if so, the shopper is told why
    /// with the order's card, and the task ends.
    fn refused_by_check(
        &mut self,
        spec: &TaskSpec,
        fields: &Fields,
        values: &serde_json::Value,
        memory: &mut DialogueMemory,
    ) -> bool {
        let Some(cond) = &spec.allowed_if else {
            return false;
        };
        if crate::content::template::holds(cond, values) {
            return false;
        }
        let text = spec
            .not_allowed
            .as_ref()
            .map(|t| say::render_text(t, values, self.lang))
            .unwrap_or_else(|| say::declined(self.lang).to_string());
        let card = say::card(
            fields,
            &self.knowledge.content.shop,
            self.lang,
            spec.card,
            None,
        );
        self.say_with(text, |m| m.card = card);
        memory.task = None;
        true
    }

    fn not_found(&mut self, intent: &Intent, spec: &TaskSpec, memory: &mut DialogueMemory) {
        if !spec.needs(Need::Order) {
            memory.known.remove("sku");
            memory.task = None;
            self.say(say::product_not_found(self.lang));
            return;
        }
        memory.known.remove("order_number");
        memory.known.remove("phone_last4");
        let pending = memory.task.clone().unwrap_or(PendingTask {
            intent: intent.id.clone(),
            waiting: Waiting::OrderNumber,
            asked: 0,
        });
        if pending.asked + 1 >= MAX_ASKS {
            self.give_up(intent, memory);
            return;
        }
        self.wait(memory, Waiting::OrderNumber);
        self.say(say::not_found(self.lang));
    }

    /// The message was not the value the task waits for, and nothing else: ask again, or
    /// hand over after [`MAX_ASKS`].
    fn ask_again(&mut self, intent: &Intent, pending: &PendingTask, memory: &mut DialogueMemory) {
        if pending.asked >= MAX_ASKS {
            self.give_up(intent, memory);
            return;
        }
        self.wait(memory, pending.waiting);
        let lang = self.lang;
        match pending.waiting {
            Waiting::Confirm => {
                let buttons = say::confirm_buttons(lang);
                let text = match lang {
                    Lang::Zh => "请点「确认」继续，或点「先不了」保持订单不变。",
                    Lang::En => {
                        "Please tap \"Yes, go ahead\" to continue, or \"No, keep it\" to leave the order as it is."
                    }
                };
                self.say_with(text, |m| m.buttons = buttons);
            }
            Waiting::OrderNumber | Waiting::OrderChoice => self.say(say::ask_order_number(lang)),
            Waiting::PhoneLast4 => self.say(say::ask_phone(lang)),
            Waiting::Address => self.say(say::ask_address(lang)),
            Waiting::Sku => self.say(say::ask_sku(lang)),
        }
    }

    fn give_up(&mut self, intent: &Intent, memory: &mut DialogueMemory) {
        memory.task = None;
        self.say(say::gave_up_asking(self.lang));
        self.turn.escalation = Some(Escalation {
            reason: EscalationReason::LowConfidence,
            priority: Priority::Normal,
            skill: intent.skill.clone(),
            intent: Some(intent.id.clone()),
        });
    }

    fn hand_over(&mut self, intent: &Intent, memory: &mut DialogueMemory, priority: Priority) {
        memory.task = None;
        self.say(say::call_failed(self.lang));
        self.turn.escalation = Some(Escalation {
            reason: EscalationReason::ActionFailed,
            priority,
            skill: intent.skill.clone(),
            intent: Some(intent.id.clone()),
        });
    }

    /// The shopper said yes: the reads again (the order may have shipped meanwhile), the
    /// check, then the write with a key derived from this message.
    async fn write(&mut self, intent: &Intent, spec: &TaskSpec, memory: &mut DialogueMemory) {
        let Some(write) = spec.write.clone() else {
            memory.task = None;
            return;
        };
        let Some(fields) = self
            .read_or_settle(intent, spec, memory, Priority::High)
            .await
        else {
            return;
        };
        let calls = &self.knowledge.content.shop;
        let mut values = say::template_values(&fields, calls, self.lang);
        if self.refused_by_check(spec, &fields, &values, memory) {
            return;
        }
        let Some(decl) = calls.get(&write) else {
            self.hand_over(intent, memory, Priority::High);
            return;
        };
        let key = crate::shop::client::idempotency_key(
            self.ctx.conversation_id,
            self.ctx.client_msg_id,
            &write,
        );
        let call_values = self.values(memory);
        let result = self
            .ctx
            .shop
            .call(&write, decl, &call_values, Some(&key), self.ctx.customer_id)
            .await;
        let outcome = result.outcome();
        let trace = result.trace.clone();
        self.turn.calls.push(result.trace);
        self.turn.audit.push(AuditEntry::new(
            self.ctx.now_ms,
            "system",
            "shop_write",
            Some(self.ctx.conversation_id),
            serde_json::json!({
                "call": write,
                "intent": intent.id,
                "outcome": outcome.as_str(),
                "status": trace.status,
                "order_number": memory.known.get("order_number"),
                "idempotency_key": key,
            }),
        ));
        match outcome {
            CallOutcome::Ok => {
                let mut merged = fields;
                merged.extend(result.fields);
                values = say::template_values(&merged, calls, self.lang);
                let text = say::render_text(&spec.reply, &values, self.lang);
                let card = say::card(&merged, calls, self.lang, spec.card, None);
                if let Some(seen) = say::order_seen(&merged, calls, self.lang) {
                    memory.saw_order(seen);
                }
                self.say_with(text, |m| m.card = card);
                memory.task = None;
                memory.known.remove("address");
            }
            CallOutcome::NotAllowed => {
                let text = spec
                    .not_allowed
                    .as_ref()
                    .map(|t| say::render_text(t, &values, self.lang))
                    .unwrap_or_else(|| say::declined(self.lang).to_string());
                self.say(text);
                memory.task = None;
            }
            CallOutcome::NotFound => self.not_found(intent, spec, memory),
            _ => self.hand_over(intent, memory, Priority::High),
        }
    }

    /// `handling: notify_person`: the request is confirmed to the shopper and left as a task
    /// for the intent's group; the shop's data is not changed by the bot.
    fn notify_person(
        &mut self,
        intent: &Intent,
        spec: &TaskSpec,
        write: &str,
        values: &serde_json::Value,
        memory: &mut DialogueMemory,
    ) {
        let text = say::render_text(&spec.reply, values, self.lang);
        let order = memory
            .known
            .get("order_number")
            .cloned()
            .unwrap_or_default();
        let mut request: BTreeMap<&str, String> = BTreeMap::new();
        request.insert("intent", intent.id.clone());
        request.insert("call", write.to_string());
        request.insert("order_number", order.clone());
        if let Some(a) = memory.known.get("address") {
            request.insert("address", a.clone());
        }
        let contact = self
            .ctx
            .customer_id
            .map(|c| format!("customer {c}"))
            .unwrap_or_else(|| "guest (order number and phone checked by the shop)".into());
        self.turn.ticket = Some(Ticket {
            id: uuid::Uuid::now_v7().to_string(),
            conversation_id: self.ctx.conversation_id.to_string(),
            skill: intent.skill.clone(),
            lang: self.lang,
            contact,
            text: format!(
                "{} {}: {}",
                intent.id,
                order,
                serde_json::to_string(&request).unwrap_or_default()
            ),
            status: "open".into(),
            created_at: self.ctx.now_ms,
            closed_at: None,
            closed_by: None,
        });
        self.turn.audit.push(AuditEntry::new(
            self.ctx.now_ms,
            "system",
            "shop_request",
            Some(self.ctx.conversation_id),
            serde_json::json!({"call": write, "intent": intent.id, "order_number": order}),
        ));
        self.say(text);
        memory.task = None;
        memory.known.remove("address");
    }
}
