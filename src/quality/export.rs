//! Reviews as CSV, one row per review, for a spreadsheet.
//!
//! Free text (comments, appeals, labels) is written by people, and a spreadsheet runs a cell
//! that starts with `=`, `+`, `-` or `@` as a formula: such cells get a leading `'`, the
//! usual guard, so an export cannot carry a formula to whoever opens it.

use super::ReviewItem;

const HEADER: [&str; 22] = [
    "handoff_id",
    "conversation_id",
    "agent",
    "skill",
    "outcome",
    "closed_at",
    "auto_score",
    "findings",
    "sampled",
    "rating",
    "state",
    "reviewed_by",
    "score",
    "comment",
    "reviewed_at",
    "appeal",
    "appealed_at",
    "decided_by",
    "decision_score",
    "decision_comment",
    "decided_at",
    "final_score",
];

/// The CSV text of `items`, with a header row.
pub fn to_csv(items: &[ReviewItem]) -> Result<String, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(HEADER)?;
    for i in items {
        let r = &i.review;
        let findings = r
            .findings
            .iter()
            .map(|f| format!("{} (-{})", f.label, f.points))
            .collect::<Vec<_>>()
            .join("; ");
        let row = [
            r.handoff_id.clone(),
            r.conversation_id.clone(),
            i.agent_name.clone(),
            r.skill.clone(),
            r.outcome.as_str().to_string(),
            time(Some(r.closed_at)),
            r.auto_score.to_string(),
            findings,
            r.sampled.to_string(),
            number(r.rating),
            r.state.as_str().to_string(),
            i.reviewed_by_name.clone().unwrap_or_default(),
            number(r.score),
            r.comment.clone().unwrap_or_default(),
            time(r.reviewed_at),
            r.appeal.clone().unwrap_or_default(),
            time(r.appealed_at),
            i.decided_by_name.clone().unwrap_or_default(),
            number(r.decision_score),
            r.decision_comment.clone().unwrap_or_default(),
            time(r.decided_at),
            i.final_score.to_string(),
        ];
        out.write_record(row.iter().map(|cell| inert(cell)))?;
    }
    let bytes = out.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// `cell`, with a leading `'` when a spreadsheet would read it as a formula.
fn inert(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}

fn number<T: ToString>(n: Option<T>) -> String {
    n.map(|n| n.to_string()).unwrap_or_default()
}

/// RFC 3339 in UTC, empty for none.
fn time(ms: Option<i64>) -> String {
    ms.and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map(|t| t.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handoff::HandoffStatus;
    use crate::quality::{Finding, Review, ReviewState};

    fn item(comment: &str) -> ReviewItem {
        let review = Review {
            handoff_id: "h1".into(),
            conversation_id: "c1".into(),
            agent_id: "a1".into(),
            skill: "after_sales".into(),
            outcome: HandoffStatus::Resolved,
            closed_at: 1_700_000_000_000,
            auto_score: 80,
            findings: vec![Finding {
                rule: "forbidden".into(),
                label: "禁用语, \"forbidden\"".into(),
                check: "forbidden_phrases".into(),
                points: 20,
                phrase: Some("不知道".into()),
                seq: Some(3),
                seconds: None,
                limit_seconds: None,
                rating: None,
            }],
            sampled: false,
            rating: Some(2),
            state: ReviewState::Reviewed,
            scored_at: 1_700_000_000_000,
            reviewed_by: Some("admin".into()),
            score: Some(70),
            comment: Some(comment.into()),
            reviewed_at: Some(1_700_000_100_000),
            appeal: None,
            appealed_at: None,
            decided_by: None,
            decision_score: None,
            decision_comment: None,
            decided_at: None,
        };
        ReviewItem {
            final_score: review.final_score(),
            review,
            agent_name: "lin".into(),
            reviewed_by_name: Some("admin".into()),
            decided_by_name: None,
        }
    }

    #[test]
    fn rows_quote_what_needs_it_and_defuse_formulas() {
        let text = to_csv(&[item("=HYPERLINK(\"http://x\")"), item("fine, thanks")]).unwrap();
        let mut rows = csv::Reader::from_reader(text.as_bytes());
        let header = rows.headers().unwrap().clone();
        assert_eq!(header.len(), HEADER.len());
        let records: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
        assert_eq!(records.len(), 2);
        let field = |r: &csv::StringRecord, name: &str| {
            r[header.iter().position(|h| h == name).unwrap()].to_string()
        };
        assert_eq!(field(&records[0], "comment"), "'=HYPERLINK(\"http://x\")");
        assert_eq!(field(&records[1], "comment"), "fine, thanks");
        assert_eq!(
            field(&records[0], "findings"),
            "禁用语, \"forbidden\" (-20)"
        );
        assert_eq!(field(&records[0], "closed_at"), "2023-11-14T22:13:20Z");
        assert_eq!(field(&records[0], "final_score"), "70");
        assert_eq!(field(&records[0], "decision_score"), "");
    }
}
