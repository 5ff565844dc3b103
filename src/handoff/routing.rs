//! Routing rules as pure functions over a snapshot: which queued conversation comes first,
//! which agent is offered it, where each shopper stands and how long they will likely wait.
//!
//! The [`crate::desk`] reads the open handoffs and the agents' presence, calls
//! [`plan_offers`] and [`positions`], and writes the result. Keeping the rules free of I/O
//! and clocks is what lets the unit tests below state them exactly.

use std::borrow::Borrow;
use std::cmp::Reverse;

use super::{Handoff, Priority};

/// An agent as routing sees them.
#[derive(Debug, Clone, PartialEq)]
pub struct Seat {
    pub agent_id: String,
    pub skills: Vec<String>,
    pub max_chats: u32,
    /// Conversations assigned to or offered to the agent now.
    pub load: u32,
    /// Online and reachable: may be offered new conversations.
    pub available: bool,
    /// When the agent last got a conversation (idle agents first among equals).
    pub last_assigned_at: i64,
}

impl Seat {
    fn serves_any(&self, groups: &[&str]) -> bool {
        self.skills.iter().any(|s| groups.contains(&s.as_str()))
    }

    fn has_room(&self) -> bool {
        self.available && self.load < self.max_chats
    }
}

fn priority_rank(p: Priority) -> u8 {
    match p {
        Priority::Urgent => 2,
        Priority::High => 1,
        Priority::Normal => 0,
    }
}

/// Queued handoffs in service order: higher priority first, then longer waiting. Takes the
/// handoffs owned or shared (the store hands out the open queue as `Arc`s).
pub fn queue_order<'a, H: Borrow<Handoff> + 'a>(
    handoffs: impl IntoIterator<Item = &'a H>,
) -> Vec<&'a Handoff> {
    let mut q: Vec<&Handoff> = handoffs
        .into_iter()
        .map(Borrow::borrow)
        .filter(|h| h.is_queued())
        .collect();
    // Keys borrowed, not built per comparison: a peak day's queue is thousands long.
    let key = |h: &&'a Handoff| {
        (
            Reverse(priority_rank(h.priority)),
            h.routing.queued_at,
            h.created_at,
            h.id.as_str(),
        )
    };
    q.sort_by(|a, b| key(a).cmp(&key(b)));
    q
}

/// The agent to offer `handoff` to: a reachable agent of one of its groups with room,
/// fewest conversations first, then the one idle longest. Agents who passed on it are asked
/// again only when nobody else can take it; a transfer to a named agent waits for them. A
/// returning customer goes first to the agent who last helped them, whatever their group,
/// when that agent has room and has not passed on it: they know the customer's story.
pub fn pick_agent<'a>(handoff: &Handoff, seats: &'a [Seat], fallback: &str) -> Option<&'a Seat> {
    if let Some(named) = &handoff.routing.reserved_for {
        return seats.iter().find(|s| &s.agent_id == named && s.has_room());
    }
    if let Some(last) = &handoff.routing.returning_to
        && !handoff.routing.passed_over.contains(last)
        && let Some(seat) = seats.iter().find(|s| &s.agent_id == last && s.has_room())
    {
        return Some(seat);
    }
    let groups = handoff.groups(fallback);
    let candidates = || {
        seats
            .iter()
            .filter(|s| s.has_room() && s.serves_any(&groups))
    };
    let best = |it: &mut dyn Iterator<Item = &'a Seat>| {
        it.min_by_key(|s| (s.load, s.last_assigned_at, s.agent_id.clone()))
    };
    best(&mut candidates().filter(|s| !handoff.routing.passed_over.contains(&s.agent_id)))
        .or_else(|| best(&mut candidates()))
}

/// Offers to make now: for each queued handoff without an offer out, in queue order, the
/// agent it goes to. Each offer counts against the agent's room for the ones after it.
pub fn plan_offers<H: Borrow<Handoff>>(
    handoffs: &[H],
    seats: &[Seat],
    fallback: &dyn Fn(&str) -> String,
) -> Vec<(String, String)> {
    let mut seats = seats.to_vec();
    let mut offers = Vec::new();
    for h in queue_order(handoffs) {
        if h.routing.offered_to.is_some() {
            continue;
        }
        let fb = fallback(&h.skill);
        if let Some(seat) = pick_agent(h, &seats, &fb) {
            let id = seat.agent_id.clone();
            if let Some(s) = seats.iter_mut().find(|s| s.agent_id == id) {
                s.load += 1;
            }
            offers.push((h.id.clone(), id));
        }
    }
    offers
}

/// Where a queued conversation stands.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    pub handoff_id: String,
    pub conversation_id: String,
    /// 1 = next.
    pub position: u32,
    /// Estimated wait in milliseconds; `None` when no agent of its groups is online.
    pub eta_ms: Option<i64>,
}

/// Every queued conversation's place among those competing for the same agents (the agents
/// who serve one of its groups), and an estimate of its wait:
/// `ceil(position / seats) × handle time`, where seats is the number of chats the online
/// agents of its groups can hold at once.
pub fn positions<H: Borrow<Handoff>>(
    handoffs: &[H],
    seats: &[Seat],
    fallback: &dyn Fn(&str) -> String,
    handle_ms: &dyn Fn(&str) -> i64,
) -> Vec<Place> {
    let queue = queue_order(handoffs);
    // Conversations ahead, counted per distinct (agents who could take it, groups): there
    // are few distinct ones, so this stays linear in the queue length.
    let mut counted: Vec<(Vec<usize>, Vec<String>, u32)> = Vec::new();
    let mut places = Vec::with_capacity(queue.len());
    for h in queue {
        let fb = fallback(&h.skill);
        let groups = h.groups(&fb);
        let who: Vec<usize> = seats
            .iter()
            .enumerate()
            .filter(|(_, s)| s.serves_any(&groups))
            .map(|(i, _)| i)
            .collect();
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        let competes = |(w, g, _): &&(Vec<usize>, Vec<String>, u32)| {
            w.iter().any(|i| who.contains(i)) || g.iter().any(|x| groups.contains(x))
        };
        let ahead: u32 = counted.iter().filter(competes).map(|c| c.2).sum();
        match counted
            .iter_mut()
            .find(|(w, g, _)| *w == who && *g == groups)
        {
            Some(c) => c.2 += 1,
            None => counted.push((who.clone(), groups.clone(), 1)),
        }
        let position = ahead + 1;
        let capacity: u32 = who
            .iter()
            .filter(|i| seats[**i].available)
            .map(|i| seats[*i].max_chats)
            .sum();
        let eta_ms = (capacity > 0).then(|| {
            let rounds = position.div_ceil(capacity) as i64;
            rounds * handle_ms(&h.skill)
        });
        places.push(Place {
            handoff_id: h.id.clone(),
            conversation_id: h.conversation_id.clone(),
            position,
            eta_ms,
        });
    }
    places
}

/// The wait a conversation joining `skill`'s queue now would have, in milliseconds: none when
/// a seat of the group has room for it after those already waiting for the group's agents,
/// else `ceil((waiting − free seats + 1) / seats) × handle time`, as [`positions`] estimates.
/// `None` when no agent of the group is available.
pub fn newcomer_wait<H: Borrow<Handoff>>(
    skill: &str,
    handoffs: &[H],
    seats: &[Seat],
    handle_ms: i64,
) -> Option<i64> {
    let serving: Vec<&Seat> = seats
        .iter()
        .filter(|s| s.available && s.serves_any(&[skill]))
        .collect();
    let capacity: u32 = serving.iter().map(|s| s.max_chats).sum();
    if capacity == 0 {
        return None;
    }
    let free: u32 = serving
        .iter()
        .map(|s| s.max_chats.saturating_sub(s.load))
        .sum();
    // Waiting for these agents and not yet offered to one (an offer already counts in its
    // seat's load).
    let waiting = handoffs
        .iter()
        .map(Borrow::borrow)
        .filter(|h: &&Handoff| h.is_queued() && h.routing.offered_to.is_none())
        .filter(|h| serving.iter().any(|s| s.skills.contains(&h.skill)))
        .count() as u32;
    if waiting < free {
        return Some(0);
    }
    let rounds = (waiting - free + 1).div_ceil(capacity) as i64;
    Some(rounds * handle_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handoff::{EscalationReason, HandoffStatus, Routing};

    fn handoff(id: &str, skill: &str, priority: Priority, queued_at: i64) -> Handoff {
        Handoff {
            id: id.into(),
            conversation_id: format!("c-{id}"),
            reason: EscalationReason::RequestedHuman,
            priority,
            skill: skill.into(),
            status: HandoffStatus::Queued,
            agent_id: None,
            created_at: queued_at,
            trigger_seq: None,
            routing: Routing {
                queued_at,
                ..Default::default()
            },
            context: None,
            wrap_up: None,
        }
    }

    fn seat(id: &str, skills: &[&str], max: u32, load: u32) -> Seat {
        Seat {
            agent_id: id.into(),
            skills: skills.iter().map(|s| s.to_string()).collect(),
            max_chats: max,
            load,
            available: true,
            last_assigned_at: 0,
        }
    }

    fn general(_: &str) -> String {
        "general".into()
    }

    #[test]
    fn a_newcomer_waits_nothing_while_a_seat_is_free_then_rounds_of_handle_time() {
        let seats = vec![seat("a", &["orders"], 2, 1), seat("b", &["billing"], 3, 0)];
        assert_eq!(
            newcomer_wait::<Handoff>("orders", &[], &seats, 60_000),
            Some(0)
        );
        let one = vec![handoff("h1", "orders", Priority::Normal, 1)];
        // One free seat, one already waiting for it: the newcomer is a round behind.
        assert_eq!(newcomer_wait("orders", &one, &seats, 60_000), Some(60_000));
        let three: Vec<_> = (0..3)
            .map(|i| handoff(&format!("h{i}"), "orders", Priority::Normal, i))
            .collect();
        assert_eq!(
            newcomer_wait("orders", &three, &seats, 60_000),
            Some(120_000)
        );
        // Billing's queue and an offer already counted in a seat are not in the way.
        let mut offered = handoff("h9", "orders", Priority::Normal, 9);
        offered.routing.offered_to = Some("a".into());
        let billing = handoff("h8", "billing", Priority::Normal, 8);
        assert_eq!(
            newcomer_wait("orders", &[offered, billing], &seats, 60_000),
            Some(0)
        );
        assert_eq!(
            newcomer_wait::<Handoff>("complaints", &[], &seats, 60_000),
            None
        );
        let away = vec![Seat {
            available: false,
            ..seat("c", &["orders"], 2, 0)
        }];
        assert_eq!(newcomer_wait::<Handoff>("orders", &[], &away, 60_000), None);
    }

    #[test]
    fn priority_then_waiting_time() {
        let hs = vec![
            handoff("old", "orders", Priority::Normal, 1),
            handoff("vip", "orders", Priority::High, 5),
            handoff("newer", "orders", Priority::Normal, 3),
            handoff("angry", "orders", Priority::Urgent, 9),
        ];
        let order: Vec<&str> = queue_order(&hs).iter().map(|h| h.id.as_str()).collect();
        assert_eq!(order, ["angry", "vip", "old", "newer"]);
    }

    #[test]
    fn a_returning_customer_goes_to_their_last_agent_while_they_have_room() {
        let mut h = handoff("h", "orders", Priority::Normal, 1);
        h.routing.returning_to = Some("last".into());
        let seats = vec![
            seat("free", &["orders"], 3, 0),
            // Busier, and of another group: still the one who knows the customer.
            seat("last", &["billing"], 3, 2),
        ];
        assert_eq!(pick_agent(&h, &seats, "general").unwrap().agent_id, "last");
        let mut full = seats.clone();
        full[1].load = 3;
        assert_eq!(
            pick_agent(&h, &full, "general").unwrap().agent_id,
            "free",
            "no room: the usual pick"
        );
        let mut away = seats.clone();
        away[1].available = false;
        assert_eq!(
            pick_agent(&h, &away, "general").unwrap().agent_id,
            "free",
            "offline: the usual pick"
        );
        let mut passed = h.clone();
        passed.routing.passed_over.push("last".into());
        assert_eq!(
            pick_agent(&passed, &seats, "general").unwrap().agent_id,
            "free",
            "declined: the usual pick"
        );
        let mut transfer = h.clone();
        transfer.routing.reserved_for = Some("free".into());
        assert_eq!(
            pick_agent(&transfer, &seats, "general").unwrap().agent_id,
            "free",
            "a transfer to a named agent comes first"
        );
    }

    #[test]
    fn least_loaded_agent_of_the_group_with_room() {
        let h = handoff("h", "orders", Priority::Normal, 1);
        let seats = vec![
            seat("busy", &["orders"], 3, 2),
            seat("free", &["orders"], 3, 0),
            seat("wrong-skill", &["billing"], 3, 0),
            seat("full", &["orders"], 1, 1),
        ];
        assert_eq!(pick_agent(&h, &seats, "general").unwrap().agent_id, "free");
        let mut away = seats.clone();
        away[1].available = false;
        assert_eq!(pick_agent(&h, &away, "general").unwrap().agent_id, "busy");
        assert!(
            pick_agent(&h, &seats[2..], "general").is_none(),
            "capacity is respected"
        );
    }

    #[test]
    fn passed_over_agents_are_asked_last_and_named_transfers_wait() {
        let mut h = handoff("h", "orders", Priority::Normal, 1);
        let seats = vec![seat("a", &["orders"], 3, 0), seat("b", &["orders"], 3, 1)];
        h.routing.passed_over = vec!["a".into()];
        assert_eq!(pick_agent(&h, &seats, "general").unwrap().agent_id, "b");
        h.routing.passed_over = vec!["a".into(), "b".into()];
        assert_eq!(pick_agent(&h, &seats, "general").unwrap().agent_id, "a");
        h.routing.reserved_for = Some("b".into());
        assert_eq!(pick_agent(&h, &seats, "general").unwrap().agent_id, "b");
        h.routing.reserved_for = Some("gone".into());
        assert!(pick_agent(&h, &seats, "general").is_none());
    }

    #[test]
    fn widened_handoffs_reach_the_fallback_group() {
        let mut h = handoff("h", "billing", Priority::Normal, 1);
        let seats = vec![seat("g", &["general"], 2, 0)];
        assert!(pick_agent(&h, &seats, "general").is_none());
        h.routing.widened = true;
        assert_eq!(pick_agent(&h, &seats, "general").unwrap().agent_id, "g");
    }

    #[test]
    fn offers_respect_capacity_across_the_queue() {
        let hs = vec![
            handoff("1", "orders", Priority::Normal, 1),
            handoff("2", "orders", Priority::Normal, 2),
            handoff("3", "orders", Priority::Normal, 3),
        ];
        let seats = vec![seat("a", &["orders"], 1, 0), seat("b", &["orders"], 1, 0)];
        let offers = plan_offers(&hs, &seats, &general);
        assert_eq!(
            offers,
            vec![("1".to_string(), "a".to_string()), ("2".into(), "b".into())]
        );
    }

    #[test]
    fn positions_and_estimates() {
        let hs = vec![
            handoff("1", "orders", Priority::Normal, 1),
            handoff("2", "orders", Priority::Normal, 2),
            handoff("3", "billing", Priority::Normal, 3),
            handoff("4", "orders", Priority::Normal, 4),
        ];
        let seats = vec![seat("a", &["orders"], 2, 2), seat("b", &["billing"], 1, 0)];
        let mut seats_offline = seats.clone();
        seats_offline[1].available = false;
        let places = positions(&hs, &seats_offline, &general, &|_| 60_000);
        let p: Vec<(u32, Option<i64>)> = places.iter().map(|p| (p.position, p.eta_ms)).collect();
        assert_eq!(
            p,
            vec![
                (1, Some(60_000)),
                (2, Some(60_000)),
                (1, None),
                (3, Some(120_000))
            ]
        );
        // One agent serving both groups: they all wait for the same person.
        let shared = vec![seat("ab", &["orders", "billing"], 1, 1)];
        let places = positions(&hs, &shared, &general, &|_| 60_000);
        let p: Vec<u32> = places.iter().map(|p| p.position).collect();
        assert_eq!(p, vec![1, 2, 3, 4]);
    }
}
