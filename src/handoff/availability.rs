//! Whether a person can take an escalated conversation now: business hours of the skill
//! group and its fallback, and whether anyone of them is on duty ([`super::Roster`]). The
//! dialogue words the notice from it; the service decides with it whether to queue.

use jiff::Timestamp;

use crate::config::BusinessHours;

/// Whether a person can take an escalated conversation now. Read from YAML by `baton eval
/// dialogues`, where a script fixes it per conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    /// Within business hours and an agent of the group is on duty: queue.
    OnDuty,
    /// Within business hours but nobody of the group is online: queue, and offer to leave a
    /// message.
    NobodyOnline,
    /// Outside business hours: do not queue; offer to leave a message.
    OffHours,
}

impl Availability {
    /// Business hours of `skill` at `now`. Hours are validated at start-up; a failure here
    /// means "assume open" rather than turning shoppers away.
    pub fn from_hours(hours: &BusinessHours, skill: &str, now: Timestamp) -> Availability {
        if hours.is_open(skill, now).unwrap_or(true) {
            Availability::OnDuty
        } else {
            Availability::OffHours
        }
    }

    /// Whether the conversation joins the queue.
    pub fn queues(self) -> bool {
        self != Availability::OffHours
    }
}
