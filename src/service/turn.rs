//! The shopper's side of the service: a message, and the "talk to a person" button.
//!
//! ```text
//! send: lock ─► read the conversation, its open handoff and any turn stored under the
//!       client_msg_id, together ─► check the token ─► the caller admits it (rate limit)
//!       ─► stored client_msg_id? answer from the store
//!       ─► dialogue::respond (the bot turn) ─► Change ─► commit ─► (assigned) FAQ
//!       suggestions to the agent
//! ```
//!
//! The bot turn runs against one knowledge snapshot; whether a person can take a handoff
//! ([`Availability`]) comes from the business hours and the roster of agents on duty.

use super::commit::{Applied, Change, Current, ShopperMessage};
use super::screen::Writer;
use super::{ConversationService, HandoffView, ServiceError, TurnOutcome};
use crate::content::words::Author;
use crate::conversation::Conversation;
use crate::dialogue::reception::Staffing;
use crate::dialogue::rules::RuleAlert;
use crate::dialogue::task::OrderContext;
use crate::dialogue::{self, Compute, Facts, GroupTask, Plan, TurnError};
use crate::handoff::{Availability, HandoffStatus, Ticket};
use crate::realtime::Event;
use crate::store::StoreError;
use crate::vocabulary::{ClientMsgId, MessageText};

impl From<TurnError> for ServiceError {
    fn from(e: TurnError) -> Self {
        match e {
            TurnError::Busy => ServiceError::Busy,
            other => ServiceError::Internal(other.to_string()),
        }
    }
}

impl ConversationService {
    /// A shopper message: stored, answered (or not, while a person holds the conversation),
    /// all durable before this returns. `token` is checked against the conversation read
    /// for the turn, so the row is read once. `admit` runs once, right after the token is
    /// verified and before any work: the caller's chance to refuse (a per-conversation rate
    /// limit) without reading the row again; its refusal comes back as the inner `Err` and
    /// nothing is stored.
    pub async fn send<R>(
        &self,
        id: &str,
        token: Option<&str>,
        text: &str,
        client_msg_id: &str,
        admit: impl FnOnce(&Conversation) -> Result<(), R>,
    ) -> Result<Result<TurnOutcome, R>, ServiceError> {
        // Checked here, reported after the token: a stranger learns nothing from them.
        let text = MessageText::parse(text, self.config().http.max_message_chars);
        let client_msg_id = ClientMsgId::parse(client_msg_id);
        let (text, client_msg_id) = (&text, &client_msg_id);
        let key = client_msg_id.as_ref().ok().map(ClientMsgId::as_str);
        self.as_shopper_reading(id, token, key, admit, |current, stored| async move {
            let text = text
                .as_ref()
                .map_err(|e| ServiceError::Invalid(e.clone()))?;
            let client_msg_id = client_msg_id
                .as_ref()
                .map_err(|e| ServiceError::Invalid(e.clone()))?;
            if let Some(stored) = stored.filter(|turn| !turn.is_empty()) {
                return Ok(replay(&current, stored));
            }
            match self.shopper_turn(&current, text, client_msg_id).await {
                // The same client_msg_id committed meanwhile: read again, answer from the store.
                Err(ServiceError::Store(StoreError::Duplicate)) => {
                    Err(ServiceError::Store(StoreError::Conflict))
                }
                other => other,
            }
        })
        .await
    }

    /// The "talk to a person" button. Idempotent: pressing it while queued or assigned
    /// changes nothing. `token` and `admit` as for [`Self::send`].
    pub async fn request_handoff<R>(
        &self,
        id: &str,
        token: Option<&str>,
        admit: impl FnOnce(&Conversation) -> Result<(), R>,
    ) -> Result<Result<TurnOutcome, R>, ServiceError> {
        self.as_shopper(id, token, admit, |current| async move {
            let c = &current.conversation;
            if c.state.human_owned() {
                return Ok(TurnOutcome {
                    conversation_id: c.id.clone(),
                    state: c.state,
                    message: None,
                    replies: vec![],
                    handoff: current.open.as_ref().map(HandoffView::from),
                    duplicate: true,
                });
            }
            let lang = self.conversation_lang(c).await?;
            let config = self.config();
            let mut plan = dialogue::button_plan(&Facts::of(c), &config.policy, lang);
            dialogue::settle(&mut plan, &config.hours, |skill| self.availability(skill));
            Ok(outcome(
                self.commit(&current, plan_change(plan, None)).await?,
            ))
        })
        .await
    }

    async fn shopper_turn(
        &self,
        current: &Current,
        text: &MessageText,
        client_msg_id: &ClientMsgId,
    ) -> Result<TurnOutcome, ServiceError> {
        let c = &current.conversation;
        let group = current
            .open
            .as_ref()
            .map(|h| h.skill.clone())
            .or_else(|| c.recent_skill.clone())
            .unwrap_or_else(|| self.config().policy.default_skill.clone());
        let writer = Writer {
            author: Author::Shopper,
            agent_id: None,
            key: client_msg_id.as_str(),
        };
        let screening = self.screen(c, &group, &writer, text.as_str()).await?;
        let masked;
        let text = if screening.text == text.as_str() {
            text
        } else {
            masked =
                MessageText::parse(&screening.text, usize::MAX).map_err(ServiceError::Invalid)?;
            &masked
        };
        let knowledge = self.knowledge();
        let now_ms = self.clock().now_ms();
        let customer_id = c
            .customer
            .verified
            .then_some(c.customer.id.as_deref())
            .flatten();
        let message = dialogue::bot::Message {
            text: text.as_str(),
            locale: c.locale,
            facts: Facts::of(c),
            memory: &c.dialogue,
            at: self.clock().now(),
            order: self.wiring().shop.as_deref().map(|shop| OrderContext {
                shop,
                customer_id,
                memory: &c.dialogue,
                conversation_id: &c.id,
                client_msg_id: client_msg_id.as_str(),
                now_ms,
            }),
        };
        let mut plan = dialogue::respond(
            &knowledge,
            self.config_arc(),
            message,
            Compute::Blocking,
            |skill| Staffing {
                availability: self.availability(skill),
                wait_ms: self.wiring().waits.wait_ms(skill),
            },
        )
        .await?;
        if let Some(task) = plan.group_task.take() {
            plan.ticket = self.group_ticket(c, task, text, plan.lang, now_ms).await?;
        }
        // Per turn: debug. The turn counters are in `/metrics`; at info, a peak day's log
        // would be a line per message.
        if let Some(turn) = &plan.turn {
            tracing::debug!(
                conversation = %c.id,
                intent = turn.intent.as_ref().map(|i| i.label.as_str()).unwrap_or("-"),
                confidence = turn.intent.as_ref().map(|i| i.confidence).unwrap_or(0.0),
                decision = ?turn.decision,
                reason = turn.reason.map(|r| r.as_str()).unwrap_or("-"),
                "bot turn"
            );
        }
        let assist = plan.assist.clone();
        let alerts = std::mem::take(&mut plan.alerts);
        let now = self.clock().now_ms();
        let reply_clock = current.open.as_ref().and_then(|h| h.shopper_wrote(now));
        let Some(turn) = plan.turn.clone() else {
            return Err(ServiceError::Internal(
                "a bot turn came back without its record".into(),
            ));
        };
        let shopper = ShopperMessage {
            text: text.as_str().to_string(),
            client_msg_id: client_msg_id.as_str().to_string(),
            turn,
        };
        let mut change = plan_change(plan, Some(shopper));
        change.handoff = reply_clock;
        let applied = self.commit(current, change).await?;
        if let Some(m) = applied.messages.first() {
            for alert in alerts {
                self.alert_group(&c.id, m.seq, alert);
            }
            self.word_alerts(&c.id, &group, m.seq, &screening);
        }
        // While an agent holds the conversation, they get the best FAQ answers for it.
        if let Some(h) = applied.handoff.as_ref()
            && h.status == HandoffStatus::Assigned
            && let Some(agent) = &h.agent_id
            && let Some(m) = applied.messages.first()
        {
            self.hub().to_agent(
                agent,
                Event::Assist {
                    conversation_id: c.id.clone(),
                    seq: m.seq,
                    suggestions: assist,
                },
            );
        }
        Ok(outcome(applied))
    }

    /// The ticket of a FAQ's `handoff: notify`: the shopper's own words for the group, with
    /// who they are when the shop verified it. `None` once the conversation has
    /// `handoff.max_open_tickets` open: the team already has its requests, and the answer
    /// must not be refused for it.
    async fn group_ticket(
        &self,
        c: &Conversation,
        task: GroupTask,
        text: &MessageText,
        lang: crate::nlu::Lang,
        now_ms: i64,
    ) -> Result<Option<Ticket>, ServiceError> {
        let max = self.config().handoff.max_open_tickets;
        if self.store().count_open_tickets_of(&c.id).await? >= u64::from(max) {
            tracing::info!(conversation = %c.id, faq = %task.faq_id, "open ticket limit reached; no new task for the group");
            return Ok(None);
        }
        let contact = match (&c.customer.id, c.customer.verified) {
            (Some(id), true) => format!("customer {id}"),
            _ => "guest: reply in the conversation".to_string(),
        };
        Ok(Some(Ticket {
            id: uuid::Uuid::now_v7().to_string(),
            conversation_id: c.id.clone(),
            skill: task.skill,
            lang,
            contact,
            text: format!("[{}] {}", task.faq_id, text.as_str()),
            status: "open".into(),
            created_at: now_ms,
            closed_at: None,
            closed_by: None,
        }))
    }

    /// Tells the agents and supervisors of a trigger rule's group, live, to look at the conversation.
    fn alert_group(&self, conversation_id: &str, seq: i64, alert: RuleAlert) {
        tracing::info!(conversation = %conversation_id, rule = %alert.rule, skill = %alert.skill, "trigger rule alert");
        self.to_group_and_supervisors(&alert.skill, || Event::Alert {
            conversation_id: conversation_id.to_string(),
            seq,
            rule: alert.rule.clone(),
            label: alert.label.clone(),
            skill: alert.skill.clone(),
        });
    }

    /// Whether a person can take `skill`'s conversations now: business hours of the group
    /// and its fallback, and whether anyone of them is on duty.
    pub(crate) fn availability(&self, skill: &str) -> Availability {
        let config = self.config();
        let now = self.clock().now();
        let fallback = config.handoff.fallback_for(skill);
        let hours = Availability::from_hours(&config.hours, skill, now);
        if hours == Availability::OffHours
            && Availability::from_hours(&config.hours, fallback, now) == Availability::OffHours
        {
            return Availability::OffHours;
        }
        if self
            .wiring()
            .roster
            .on_duty(&[skill, fallback], self.clock().now_ms())
        {
            Availability::OnDuty
        } else {
            Availability::NobodyOnline
        }
    }
}

/// The stored answer to a repeated `client_msg_id`, never a second run of the turn: the
/// shopper's message and the replies stored with it.
fn replay(current: &Current, mut stored: Vec<crate::conversation::Message>) -> TurnOutcome {
    let c = &current.conversation;
    let shopper = stored.remove(0);
    let handoff = current
        .open
        .as_ref()
        .filter(|h| h.trigger_seq == Some(shopper.seq));
    TurnOutcome {
        conversation_id: c.id.clone(),
        state: c.state,
        message: Some(shopper),
        replies: stored,
        handoff: handoff.map(HandoffView::from),
        duplicate: true,
    }
}

/// The change a settled plan makes.
fn plan_change(plan: Plan, shopper: Option<ShopperMessage>) -> Change {
    Change {
        shopper,
        messages: plan.replies,
        state: Some(plan.state),
        low_confidence_streak: Some(plan.low_confidence_streak),
        recent_skill: plan.topic_skill,
        dialogue: plan.memory,
        escalation: plan.escalation.map(|e| (e, plan.lang)),
        ticket: plan.ticket,
        audit: plan.audit,
        ..Change::default()
    }
}

/// What the shopper's client gets back.
fn outcome(applied: Applied) -> TurnOutcome {
    let Applied {
        conversation,
        mut messages,
        handoff,
        ..
    } = applied;
    let message = match messages.first() {
        Some(m) if m.author == crate::conversation::Author::Shopper => Some(messages.remove(0)),
        _ => None,
    };
    TurnOutcome {
        conversation_id: conversation.id,
        state: conversation.state,
        message,
        replies: messages,
        handoff: handoff.as_ref().map(HandoffView::from),
        duplicate: false,
    }
}
