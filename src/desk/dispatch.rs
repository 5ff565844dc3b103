//! The dispatcher: one pass ([`Desk::tick`]) looks at the clock, the agents and the open
//! handoffs and does what is due — in this order, so each step sees the previous one's
//! result:
//!
//! 1. agents who lost their connection past the grace period go offline, and the
//!    conversations of agents who are offline or disabled go back to the queue;
//! 2. offers past their deadline (or to agents no longer online) lapse;
//! 3. conversations waiting past the wait SLA are flagged and widened to the fallback group;
//!    assigned ones whose shopper waits past the reply SLA are flagged (and requeued when so
//!    configured);
//! 4. free agents are offered the next conversations ([`routing::plan_offers`]);
//! 5. shoppers whose place in the queue changed are told; agents whose queue changed are told.
//!
//! [`Desk::run`] repeats the pass when poked (a new escalation, a freed agent; pokes within
//! [`MIN_POKED_GAP`] of a pass share the next one) and every `handoff.sweep_interval_ms`,
//! until shutdown; once a minute it also scores closed
//! conversations the quality review missed ([`crate::quality`]).
//!
//! With several nodes ([`crate::cluster`]) every node shares its agents' presence on each
//! pass, but only the holder of the desk lease goes on to steps 1–5; the others refresh
//! their roster and pass their pokes on to it.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Desk;
use crate::handoff::agent::{Agent, AgentStatus};
use crate::handoff::routing::{self, Seat};
use crate::handoff::{AuditEntry, Handoff, HandoffStatus};
use crate::realtime::Event;
use crate::service::ServiceError;

/// The least time from the start of one pass to the start of a pass a poke asked for.
/// A pass reads every open handoff, so on a busy day — a hundred escalations a second and a
/// backlog of thousands — one pass per poke was a tenth of a node's CPU; at this gap the
/// desk makes at most ten passes a second, and a new escalation waits at most this long
/// longer for its offer.
const MIN_POKED_GAP: Duration = Duration::from_millis(100);

/// What a dispatcher pass must do about one open handoff's timers.
#[derive(Debug, Clone, Copy)]
enum Due {
    /// Queued: its offer lapsed (not taken in time, or the agent left), its wait SLA was
    /// breached, or both.
    Queued {
        offer_lapsed: bool,
        wait_breached: bool,
    },
    /// Assigned to an agent who is unknown, disabled or offline.
    Requeue,
    /// Assigned, and the reply SLA has just been breached.
    ReplyBreached,
}

impl Desk {
    /// Runs the dispatcher until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        let interval = Duration::from_millis(self.config().handoff.sweep_interval_ms);
        let poke = self.wiring().poke.clone();
        loop {
            let started = tokio::time::Instant::now();
            if let Err(e) = self.tick().await {
                tracing::error!(error = %e, "dispatcher pass failed; retrying on the next one");
            }
            let leading = self.wiring().cluster.as_ref().is_none_or(|c| c.leading());
            if leading && let Err(e) = self.reviews().catch_up_if_due().await {
                tracing::warn!(error = %e, "quality review catch-up failed; retrying later");
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = poke.notified() => {
                    if let Some(cluster) = &self.wiring().cluster
                        && !cluster.leading()
                    {
                        cluster.poke_others();
                    }
                    // Pokes that arrive meanwhile are one permit: they share the next pass.
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep_until(started + MIN_POKED_GAP) => {}
                    }
                }
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }

    /// Every enabled agent as a seat: skills, capacity, what they hold or are offered in
    /// `open`, and whether they may get more now.
    fn seats(&self, agents: &[Agent], open: &[Arc<Handoff>], now: i64) -> Vec<Seat> {
        let roster = &self.wiring().roster;
        agents
            .iter()
            .filter(|a| !a.disabled)
            .map(|a| Seat {
                agent_id: a.id.clone(),
                skills: a.skills.clone(),
                max_chats: a.max_chats,
                load: Self::load_of(open, &a.id),
                available: roster.effective(a, now) == AgentStatus::Online,
                last_assigned_at: open
                    .iter()
                    .filter(|h| h.agent_id.as_deref() == Some(&a.id))
                    .filter_map(|h| h.routing.assigned_at)
                    .max()
                    .unwrap_or(0),
            })
            .collect()
    }

    /// Leaves, for the bot turns, the wait a newcomer to each group would have now.
    fn post_waits(&self, seats: &[Seat], open: &[Arc<Handoff>]) {
        let groups: std::collections::BTreeSet<&String> =
            seats.iter().flat_map(|s| &s.skills).collect();
        self.wiring().waits.set(groups.into_iter().map(|skill| {
            let wait = routing::newcomer_wait(skill, open, seats, self.handle_ms(skill));
            (skill.clone(), wait)
        }));
    }

    /// One dispatcher pass (see the module docs).
    pub async fn tick(&self) -> Result<(), ServiceError> {
        let _routing = self.inner.route_lock.lock().await;
        let now = self.now();
        if let Some(cluster) = &self.wiring().cluster {
            cluster.share_presence(&self.wiring().roster, now).await?;
            if !cluster.lead().await? {
                let agents = self.refresh_agents().await?;
                // Turns on this node decide who answers first from these estimates too.
                let open = self.store().open_handoffs().await?;
                self.post_waits(&self.seats(&agents, &open, now), &open);
                self.wiring().hub.prune();
                return Ok(());
            }
            cluster.tidy(now).await?;
        }
        let config = self.config().handoff.clone();
        let agents = self.refresh_agents().await?;
        let roster = self.wiring().roster.clone();

        // 1. Presence.
        let mut lapsed = false;
        for a in agents.iter() {
            if a.status != AgentStatus::Offline && !a.disabled && !roster.reachable(&a.id, now) {
                let mut gone = a.clone();
                gone.status = AgentStatus::Offline;
                gone.updated_at = now;
                self.store().update_agent(&gone).await?;
                self.store()
                    .append_audit(&[AuditEntry::new(
                        now,
                        "system",
                        "presence_lost",
                        None,
                        serde_json::json!({ "agent_id": a.id }),
                    )])
                    .await?;
                tracing::info!(agent = %a.name, "agent unreachable past the grace period; now offline");
                self.release_agent(&gone, "agent disconnected").await?;
                lapsed = true;
            }
        }
        // Re-read only when an agent just went offline; otherwise the roster is current.
        let agents = if lapsed {
            self.refresh_agents().await?
        } else {
            agents
        };
        // 2–3. Offers and SLAs. The pass reads the open handoffs once: lapsed offers and
        // breached waits change them in place; a handoff changed through its conversation's
        // own commit (moved back to the queue, a reply SLA flagged — rare) has them read
        // again. Handoffs opened meanwhile poked the next pass. Each handoff's timers are its
        // own, so their writes go together: one group commit for a pass that flags hundreds
        // of waits on a peak day, not one commit after another while agents wait for the
        // routing lock.
        let mut open = self.store().open_handoffs().await?;
        // Only the handoffs with a timer due get a future: a peak day's queue is thousands
        // long, and most of it has nothing due in a given pass.
        let settled = futures::future::join_all(open.iter_mut().filter_map(|h| {
            let due = self.timers_due(h, now, &agents, &config)?;
            Some(self.settle_timers(h, due, now))
        }))
        .await;
        let mut committed = false;
        for through_conversation in settled {
            committed |= through_conversation?;
        }
        if committed {
            open = self.store().open_handoffs().await?;
        }

        // 4. Offers, made to the pass's copies too.
        let seats = self.seats(&agents, &open, now);
        let offers = {
            let fallback = |skill: &str| config.fallback_for(skill).to_string();
            routing::plan_offers(&open, &seats, &fallback)
        };
        let offers: std::collections::HashMap<String, String> = offers.into_iter().collect();
        let timeout_ms = config.offer_timeout_secs as i64 * 1000;
        let made = futures::future::join_all(open.iter_mut().filter_map(|h| {
            let agent_id = offers.get(&h.id)?;
            Some(self.offer(h, agent_id, now, timeout_ms))
        }))
        .await;
        for offer in made {
            offer?;
        }

        // 5. Tell shoppers and agents.
        let places = {
            let fallback = |skill: &str| config.fallback_for(skill).to_string();
            let handle = |skill: &str| self.handle_ms(skill);
            routing::positions(&open, &seats, &fallback, &handle)
        };
        self.announce_places(places).await?;
        self.post_waits(&self.seats(&agents, &open, now), &open);
        for a in agents.iter() {
            let reader = self.reader(a);
            let visible = open
                .iter()
                .filter(|h| h.is_queued() && reader.may_read(h))
                .count();
            let changed = self.inner.told_queue.insert(a.id.clone(), visible) != Some(visible);
            if changed {
                self.wiring()
                    .hub
                    .to_agent(&a.id, Event::QueueChanged { queued: visible });
            }
        }
        self.wiring().hub.prune();
        Ok(())
    }

    /// What is due on one open handoff's timers now (steps 2–3 of the pass), if anything.
    fn timers_due(
        &self,
        h: &Handoff,
        now: i64,
        agents: &[Agent],
        config: &crate::config::HandoffConfig,
    ) -> Option<Due> {
        let roster = &self.wiring().roster;
        let status_of = |id: &str| {
            agents
                .iter()
                .find(|a| a.id == id)
                .map(|a| roster.effective(a, now))
        };
        match h.status {
            HandoffStatus::Queued => {
                let offer_lapsed = h.routing.offered_to.as_deref().is_some_and(|a| {
                    h.routing.offer_expires_at.is_some_and(|t| now >= t)
                        || status_of(a) != Some(AgentStatus::Online)
                });
                let wait_ms = config.sla_wait_secs as i64 * 1000;
                let wait_breached =
                    !h.routing.sla_wait_breached && now - h.routing.queued_at >= wait_ms;
                (offer_lapsed || wait_breached).then_some(Due::Queued {
                    offer_lapsed,
                    wait_breached,
                })
            }
            HandoffStatus::Assigned => {
                // Disabled or offline (e.g. by `baton agent disable` on another process):
                // their conversations must not be stranded.
                let holder = h.agent_id.as_deref().and_then(status_of);
                if holder.is_none_or(|s| s == AgentStatus::Offline) {
                    return Some(Due::Requeue);
                }
                let reply_ms = config.sla_reply_secs as i64 * 1000;
                let late = h
                    .routing
                    .awaiting_reply_since
                    .is_some_and(|t| now - t >= reply_ms);
                (late && !h.routing.sla_reply_breached).then_some(Due::ReplyBreached)
            }
            _ => None,
        }
    }

    /// Does what [`Self::timers_due`] found due; `true` when that was committed through the
    /// conversation (requeued, reply SLA flagged), which leaves `h` behind. `h` is copied
    /// from the shared queue only here, where it changes.
    async fn settle_timers(
        &self,
        h: &mut Arc<Handoff>,
        due: Due,
        now: i64,
    ) -> Result<bool, ServiceError> {
        match due {
            Due::Queued {
                offer_lapsed,
                wait_breached,
            } => {
                if offer_lapsed {
                    self.lapse_offer(Arc::make_mut(h), now, "not accepted in time", None)
                        .await?;
                }
                if wait_breached {
                    self.breach_wait(Arc::make_mut(h), now).await?;
                }
                Ok(false)
            }
            Due::Requeue => {
                self.requeue(h, "agent unavailable").await?;
                Ok(true)
            }
            Due::ReplyBreached => {
                self.breach_reply(h).await?;
                Ok(true)
            }
        }
    }

    /// Offers `h` to the agent; `h` becomes the offered handoff when the offer is saved.
    async fn offer(
        &self,
        h: &mut Arc<Handoff>,
        agent_id: &str,
        now: i64,
        timeout_ms: i64,
    ) -> Result<(), ServiceError> {
        let mut offered = Handoff::clone(h);
        offered.routing.offered_to = Some(agent_id.to_string());
        offered.routing.offer_expires_at = Some(now + timeout_ms);
        let audit = AuditEntry::new(
            now,
            "system",
            "offer",
            Some(&offered.conversation_id),
            serde_json::json!({ "handoff_id": offered.id, "agent_id": agent_id }),
        );
        if !self.save_queued(&offered, audit).await? {
            return Ok(());
        }
        *h = Arc::new(offered);
        let summary = self
            .store()
            .open_handoff(&h.conversation_id)
            .await?
            .and_then(|f| f.context.map(|c| c.summary))
            .unwrap_or_default();
        tracing::info!(conversation = %h.conversation_id, agent = %agent_id, "conversation offered");
        self.wiring().hub.to_agent(
            agent_id,
            Event::Offer {
                conversation_id: h.conversation_id.clone(),
                handoff_id: h.id.clone(),
                expires_at: now + timeout_ms,
                priority: h.priority,
                reason: h.reason,
                skill: h.skill.clone(),
                summary,
            },
        );
        Ok(())
    }

    async fn breach_wait(&self, h: &mut Handoff, now: i64) -> Result<(), ServiceError> {
        h.context = None;
        h.routing.sla_wait_breached = true;
        h.routing.widened = true;
        let fallback = self.config().handoff.fallback_for(&h.skill).to_string();
        let audit = AuditEntry::new(
            now,
            "system",
            "sla_wait_breach",
            Some(&h.conversation_id),
            serde_json::json!({ "handoff_id": h.id, "widened_to": fallback, "waited_ms": now - h.routing.queued_at }),
        );
        if !self.save_queued(h, audit).await? {
            return Ok(());
        }
        tracing::warn!(conversation = %h.conversation_id, skill = %h.skill, fallback = %fallback, "wait SLA breached; widened to the fallback group");
        let concerned = |a: &Agent, g: &str| a.serves(g) || a.supervises(g);
        self.service().to_agents_where(
            |a| concerned(a, &h.skill) || concerned(a, &fallback),
            || Event::Sla {
                conversation_id: h.conversation_id.clone(),
                kind: "wait".into(),
            },
        );
        Ok(())
    }

    async fn breach_reply(&self, h: &Handoff) -> Result<(), ServiceError> {
        let reassign = self.config().handoff.reassign_on_reply_breach;
        let handoff_id = h.id.clone();
        let flagged = self
            .service()
            .apply(&h.conversation_id, None, |c, open, now| {
                let mut h = match open {
                    Some(h) if h.id == handoff_id && h.status == HandoffStatus::Assigned => {
                        h.clone()
                    }
                    _ => return Err(ServiceError::Conflict("no longer assigned".into())),
                };
                h.context = None;
                h.routing.sla_reply_breached = true;
                Ok(crate::service::Change {
                    audit: vec![AuditEntry::new(
                        now,
                        "system",
                        "sla_reply_breach",
                        Some(&c.id),
                        serde_json::json!({ "handoff_id": h.id, "agent_id": h.agent_id }),
                    )],
                    handoff: Some(h),
                    ..Default::default()
                })
            })
            .await;
        let h = match flagged {
            Ok(a) => a.handoff.unwrap_or_else(|| h.clone()),
            Err(ServiceError::Conflict(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        tracing::warn!(conversation = %h.conversation_id, "reply SLA breached");
        let sla = || Event::Sla {
            conversation_id: h.conversation_id.clone(),
            kind: "reply".into(),
        };
        // The holder, and whoever supervises the group: the lead is who acts on a missed
        // reply (a word, a takeover, a reassignment).
        let holder = h.agent_id.as_deref();
        self.service().to_agents_where(
            |a| Some(a.id.as_str()) == holder || a.supervises(&h.skill),
            sla,
        );
        if reassign {
            self.requeue(&h, "reply SLA breached").await?;
        }
        Ok(())
    }

    /// Remembers every queued conversation's place and tells those whose place (or wait, in
    /// minutes) changed, each in its language, read for all of them at once: when an agent
    /// takes the head of a long queue, everyone behind moves up.
    async fn announce_places(&self, places: Vec<routing::Place>) -> Result<(), ServiceError> {
        let queued: std::collections::HashSet<&str> =
            places.iter().map(|p| p.conversation_id.as_str()).collect();
        self.inner.places.retain(|c, _| queued.contains(c.as_str()));
        let minutes = |p: &routing::Place| p.eta_ms.map(|ms| (ms + 59_999) / 60_000);
        let hub = &self.wiring().hub;
        let mut moved = Vec::new();
        for p in places {
            let unchanged = self
                .inner
                .places
                .insert(p.conversation_id.clone(), p.clone())
                .is_some_and(|old| old.position == p.position && minutes(&old) == minutes(&p));
            // A long queue moves for everyone in it at each assignment; most of them have no
            // socket open, and each told shopper costs a read of their language. Shoppers
            // without a socket read their place with their conversation's status.
            if !unchanged && hub.may_reach_conversation(&p.conversation_id) {
                moved.push(p);
            }
        }
        if moved.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = moved.iter().map(|p| p.conversation_id.clone()).collect();
        let langs = self.store().conversation_langs(&ids).await?;
        for p in moved {
            let Some(&lang) = langs.get(&p.conversation_id) else {
                continue;
            };
            let eta_seconds = p.eta_ms.map(|ms| ms / 1000);
            hub.to_conversation(
                &p.conversation_id,
                Event::Queue {
                    conversation_id: p.conversation_id.clone(),
                    position: p.position,
                    eta_seconds,
                    text: crate::dialogue::phrases::queue_position(lang, p.position, eta_seconds),
                },
            );
        }
        Ok(())
    }
}
