//! Business hours: when human agents are on duty, per skill group, in the shop's time zone.
//!
//! The dialogue uses this to tell a shopper honestly whether a person will answer soon or
//! when the team is back. Times are `HH:MM` in `timezone`; `close` may be `24:00`.

use std::collections::BTreeMap;

use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use serde::{Deserialize, Serialize};

/// Opening hours for every skill group, with optional per-group exceptions.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BusinessHours {
    /// IANA time zone the times are written in.
    pub timezone: String,
    /// Schedule for skill groups without their own.
    pub default: DaySchedule,
    /// Schedules of particular skill groups.
    pub skills: BTreeMap<String, DaySchedule>,
}

/// One weekly schedule: the same span on each listed day.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DaySchedule {
    pub open: String,
    pub close: String,
    /// Days of the week, `mon` … `sun`.
    pub days: Vec<String>,
}

impl Default for DaySchedule {
    fn default() -> Self {
        DaySchedule {
            open: "09:00".into(),
            close: "22:00".into(),
            days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
                .map(String::from)
                .to_vec(),
        }
    }
}

impl Default for BusinessHours {
    fn default() -> Self {
        BusinessHours {
            timezone: "Asia/Shanghai".into(),
            default: DaySchedule::default(),
            skills: BTreeMap::new(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum HoursError {
    #[error("hours.timezone: unknown time zone {0:?}")]
    TimeZone(String),
    #[error("hours{at}: {value:?} is not a time of day (HH:MM, 00:00–24:00)")]
    Time { at: String, value: String },
    #[error("hours{at}: {value:?} is not a day (mon, tue, wed, thu, fri, sat, sun)")]
    Day { at: String, value: String },
    #[error("hours{at}: open {open} is not before close {close}")]
    Empty {
        at: String,
        open: String,
        close: String,
    },
}

/// A schedule parsed for checking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenSpan {
    /// Minutes since midnight.
    pub open_min: u16,
    pub close_min: u16,
    days: [bool; 7],
}

impl OpenSpan {
    pub(crate) fn parse(s: &DaySchedule, at: &str) -> Result<OpenSpan, HoursError> {
        let open_min = parse_hhmm(&s.open).ok_or_else(|| HoursError::Time {
            at: format!("{at}.open"),
            value: s.open.clone(),
        })?;
        let close_min = parse_hhmm(&s.close).ok_or_else(|| HoursError::Time {
            at: format!("{at}.close"),
            value: s.close.clone(),
        })?;
        if open_min >= close_min {
            return Err(HoursError::Empty {
                at: at.to_string(),
                open: s.open.clone(),
                close: s.close.clone(),
            });
        }
        let mut days = [false; 7];
        for d in &s.days {
            let i = day_index(d).ok_or_else(|| HoursError::Day {
                at: format!("{at}.days"),
                value: d.clone(),
            })?;
            days[i] = true;
        }
        Ok(OpenSpan {
            open_min,
            close_min,
            days,
        })
    }

    fn contains(&self, weekday: Weekday, minute_of_day: u16) -> bool {
        self.days[weekday.to_monday_zero_offset() as usize]
            && (self.open_min..self.close_min).contains(&minute_of_day)
    }

    /// `"09:00–22:00"`, for messages to shoppers.
    pub fn describe(&self) -> String {
        let f = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        format!("{}–{}", f(self.open_min), f(self.close_min))
    }
}

impl BusinessHours {
    pub fn validate(&self) -> Result<(), HoursError> {
        self.time_zone()?;
        OpenSpan::parse(&self.default, ".default")?;
        for (skill, s) in &self.skills {
            OpenSpan::parse(s, &format!(".skills.{skill}"))?;
        }
        Ok(())
    }

    fn time_zone(&self) -> Result<TimeZone, HoursError> {
        TimeZone::get(&self.timezone).map_err(|_| HoursError::TimeZone(self.timezone.clone()))
    }

    /// The parsed schedule that applies to `skill`.
    pub fn span_for(&self, skill: &str) -> Result<OpenSpan, HoursError> {
        match self.skills.get(skill) {
            Some(s) => OpenSpan::parse(s, &format!(".skills.{skill}")),
            None => OpenSpan::parse(&self.default, ".default"),
        }
    }

    /// Whether `now`, in the shop's time zone, falls in `span` (a UTC clock when the zone is
    /// unknown: validated at start-up, so only in tests).
    pub fn covers(&self, span: &OpenSpan, now: Timestamp) -> bool {
        let local: Zoned = now.to_zoned(self.time_zone().unwrap_or(TimeZone::UTC));
        let minute = (local.hour() as u16) * 60 + local.minute() as u16;
        span.contains(local.weekday(), minute)
    }

    /// Whether agents of `skill` are on duty at `now`.
    pub fn is_open(&self, skill: &str, now: Timestamp) -> Result<bool, HoursError> {
        let span = self.span_for(skill)?;
        let local: Zoned = now.to_zoned(self.time_zone()?);
        let minute = (local.hour() as u16) * 60 + local.minute() as u16;
        Ok(span.contains(local.weekday(), minute))
    }
}

fn parse_hhmm(s: &str) -> Option<u16> {
    if s == "24:00" {
        return Some(24 * 60);
    }
    let t: Time = s.parse().ok()?;
    if s.len() != 5 {
        return None;
    }
    Some(t.hour() as u16 * 60 + t.minute() as u16)
}

fn day_index(d: &str) -> Option<usize> {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .position(|x| x.eq_ignore_ascii_case(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn default_hours_follow_shanghai_time() {
        let h = BusinessHours::default();
        // 01:00 UTC = 09:00 in Shanghai: open; 14:30 UTC = 22:30: closed.
        assert!(h.is_open("orders", at("2026-11-11T01:00:00Z")).unwrap());
        assert!(!h.is_open("orders", at("2026-11-11T14:30:00Z")).unwrap());
        assert!(!h.is_open("orders", at("2026-11-11T00:59:00Z")).unwrap());
    }

    #[test]
    fn skill_schedules_and_weekdays() {
        let mut h = BusinessHours::default();
        h.skills.insert(
            "billing".into(),
            DaySchedule {
                open: "10:00".into(),
                close: "18:00".into(),
                days: vec![
                    "mon".into(),
                    "tue".into(),
                    "wed".into(),
                    "thu".into(),
                    "fri".into(),
                ],
            },
        );
        h.validate().unwrap();
        // 2026-11-14 is a Saturday.
        assert!(!h.is_open("billing", at("2026-11-14T04:00:00Z")).unwrap());
        assert!(h.is_open("billing", at("2026-11-13T04:00:00Z")).unwrap());
        assert!(h.is_open("orders", at("2026-11-14T04:00:00Z")).unwrap());
        assert_eq!(h.span_for("billing").unwrap().describe(), "10:00–18:00");
    }

    #[test]
    fn bad_values_are_named() {
        let mut h = BusinessHours {
            timezone: "Mars/Olympus".into(),
            ..Default::default()
        };
        assert_eq!(
            h.validate(),
            Err(HoursError::TimeZone("Mars/Olympus".into()))
        );
        h.timezone = "UTC".into();
        h.default.open = "9am".into();
        assert!(matches!(h.validate(), Err(HoursError::Time { .. })));
        h.default.open = "23:00".into();
        assert!(matches!(h.validate(), Err(HoursError::Empty { .. })));
        h.default.open = "08:00".into();
        h.default.days = vec!["funday".into()];
        assert!(matches!(h.validate(), Err(HoursError::Day { .. })));
    }
}
