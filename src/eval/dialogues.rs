//! `baton eval dialogues`: scripted conversations replayed through the bot turn that serves
//! shoppers ([`crate::dialogue::respond`]), each turn checked against what the script expects.
//!
//! A script is a YAML list of conversations; each has the shopper's messages in order and,
//! per message, what should happen (intent, decision, escalation reason, answered FAQ, words
//! in a reply). Between turns the conversation carries what a stored one carries
//! ([`crate::dialogue::Plan::next_facts`]): the misunderstood-turn streak, the last topic, and
//! who holds it — after a handoff the bot stays silent, as in production. Whether a person can
//! take a handoff is fixed per conversation (`agents:`), so results never depend on the hour
//! the evaluation runs. The report counts conversations where every expectation held, turns,
//! decisions, and the latency of whole turns, and lists every miss with what came instead.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{EvalError, percentiles};
use crate::config::Config;
use crate::conversation::DecisionKind;
use crate::dialogue::reception::Staffing;
use crate::dialogue::{self, Compute, Facts, Plan};
use crate::handoff::Availability;
use crate::knowledge::Knowledge;
use crate::nlu::Lang;
use crate::vocabulary::EscalationReason;

/// One scripted conversation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Script {
    name: String,
    /// The widget's locale: the language assumed for messages without letters.
    #[serde(default = "default_locale")]
    locale: Lang,
    /// A shop-verified VIP customer.
    #[serde(default)]
    vip: bool,
    /// Whether a person can take a handoff during this conversation.
    #[serde(default = "on_duty")]
    agents: Availability,
    /// A shop-verified customer id; absent, the shopper is a guest.
    #[serde(default)]
    customer: Option<String>,
    /// The page the shopper is on.
    #[serde(default)]
    page: Option<crate::dialogue_memory::Page>,
    /// `broken`: the shop's API refuses connections during this conversation.
    #[serde(default)]
    shop: Option<ShopMode>,
    turns: Vec<ScriptTurn>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ShopMode {
    Broken,
}

fn default_locale() -> Lang {
    Lang::Zh
}

fn on_duty() -> Availability {
    Availability::OnDuty
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScriptTurn {
    shopper: String,
    #[serde(default)]
    expect: Expect,
    /// The conversation's task is done at this turn.
    #[serde(default)]
    goal: bool,
}

/// What should happen on a turn; an absent field is not checked.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<DecisionKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<EscalationReason>,
    /// The FAQ the bot answered with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub faq: Option<String>,
    /// Words one of the bot's or the system's replies contains.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub says: Option<String>,
}

/// What a turn came to, in the terms of [`Expect`].
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub intent: Option<String>,
    pub confidence: Option<f32>,
    pub decision: Option<DecisionKind>,
    pub reason: Option<EscalationReason>,
    pub faq: Option<String>,
    pub replies: Vec<String>,
}

impl Outcome {
    fn of(plan: &Plan) -> Outcome {
        let turn = plan.turn.as_ref();
        let intent = turn.and_then(|t| t.intent.as_ref());
        Outcome {
            intent: intent.map(|i| i.label.clone()),
            confidence: intent.map(|i| i.confidence),
            decision: turn.map(|t| t.decision),
            reason: turn.and_then(|t| t.reason),
            faq: turn.and_then(|t| t.answered_faq.clone()),
            replies: plan.replies.iter().map(|r| r.text.clone()).collect(),
        }
    }

    /// The expectations this outcome misses, by field name.
    fn misses(&self, expect: &Expect) -> Vec<&'static str> {
        let mut missed = Vec::new();
        if expect.intent.is_some() && expect.intent != self.intent {
            missed.push("intent");
        }
        if expect.decision.is_some() && expect.decision != self.decision {
            missed.push("decision");
        }
        if expect.reason.is_some() && expect.reason != self.reason {
            missed.push("reason");
        }
        if expect.faq.is_some() && expect.faq != self.faq {
            missed.push("faq");
        }
        if let Some(words) = &expect.says
            && !self.replies.iter().any(|r| r.contains(words.as_str()))
        {
            missed.push("says");
        }
        missed
    }
}

/// A turn whose outcome missed what the script expects.
#[derive(Debug, Clone, Serialize)]
pub struct Miss {
    pub dialogue: String,
    /// 1-based, in the script's order.
    pub turn: usize,
    pub shopper: String,
    pub missed: Vec<&'static str>,
    pub expected: Expect,
    pub got: Outcome,
}

#[derive(Debug, Clone, Serialize)]
pub struct DialogueReport {
    pub dialogues: usize,
    /// Conversations where every expectation held.
    pub passed: usize,
    pub success_rate: f64,
    pub turns: usize,
    pub turns_passed: usize,
    /// How many turns ended in each decision.
    pub decisions: BTreeMap<String, usize>,
    /// One whole turn (normalise, embed, classify, retrieve, decide, word the reply).
    pub turn_p50_ms: f64,
    pub turn_p99_ms: f64,
    /// Conversations with a goal turn, and those that reached it with every expectation held.
    pub tasks: usize,
    pub tasks_succeeded: usize,
    pub task_success_rate: f64,
    /// Shopper turns up to the goal, over the succeeded tasks.
    pub turns_to_success_mean: f64,
    pub turns_to_success_median: f64,
    /// Replies that showed an order the shopper does not own (must be 0).
    pub wrong_customer_leaks: usize,
    pub misses: Vec<Miss>,
}

/// Reads a script file; errors name the file and line.
fn read_scripts(path: &Path) -> Result<Vec<Script>, EvalError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| EvalError::Input(format!("{}: {e}", path.display())))?;
    let scripts: Vec<Script> = serde_norway::from_str(&text).map_err(|e| {
        let (line, message) = crate::content::diagnostic::yaml_error(&e, &text, 1);
        EvalError::Line {
            path: path.display().to_string(),
            line: line.unwrap_or(1),
            message,
        }
    })?;
    if scripts.is_empty() {
        return Err(EvalError::Input(format!(
            "{}: no conversations in the script",
            path.display()
        )));
    }
    Ok(scripts)
}

/// Replays every conversation of `script` against `knowledge` and `config`.
pub async fn eval_dialogues(
    knowledge: &Arc<Knowledge>,
    config: &Arc<Config>,
    script: &Path,
) -> Result<DialogueReport, EvalError> {
    let scripts = read_scripts(script)?;
    let mut report = DialogueReport {
        dialogues: scripts.len(),
        passed: 0,
        success_rate: 0.0,
        turns: 0,
        turns_passed: 0,
        decisions: BTreeMap::new(),
        turn_p50_ms: 0.0,
        turn_p99_ms: 0.0,
        tasks: 0,
        tasks_succeeded: 0,
        task_success_rate: 0.0,
        turns_to_success_mean: 0.0,
        turns_to_success_median: 0.0,
        wrong_customer_leaks: 0,
        misses: Vec::new(),
    };
    let mut turns_to_success = Vec::new();
    let mut latency_ms = Vec::new();
    for s in scripts {
        let locale = s.locale;
        let availability = s.agents;
        let mut facts = Facts {
            vip: s.vip,
            ..Facts::default()
        };
        let mut all_held = true;
        let mut memory = crate::dialogue_memory::DialogueMemory {
            page: s.page.clone(),
            ..Default::default()
        };
        let conversation_id = format!("eval-{}", report.turns);
        // Every conversation starts from the demo shop's sample data.
        let shop = DemoShop::start(&config.shop).await?;
        let client = match s.shop {
            Some(ShopMode::Broken) => &shop.broken,
            None => &shop.working,
        };
        let mut goal_reached = false;
        for (i, turn) in s.turns.iter().enumerate() {
            let client_msg_id = format!("m{i}");
            let message = dialogue::bot::Message {
                text: &turn.shopper,
                locale,
                facts: facts.clone(),
                memory: &memory,
                at: jiff::Timestamp::now(),
                order: Some(dialogue::task::OrderContext {
                    shop: client,
                    customer_id: s.customer.as_deref(),
                    memory: &memory,
                    conversation_id: &conversation_id,
                    client_msg_id: &client_msg_id,
                    now_ms: 0,
                }),
            };
            let started = Instant::now();
            let plan = dialogue::respond(knowledge, config, message, Compute::Inline, |_| {
                Staffing::free(availability)
            })
            .await
            .map_err(|e| EvalError::Input(format!("{}: turn {}: {e}", s.name, i + 1)))?;
            latency_ms.push(started.elapsed().as_secs_f64() * 1e3);
            let outcome = Outcome::of(&plan);
            report.wrong_customer_leaks += leaks(&plan, s.customer.as_deref(), &s.turns[..=i]);
            if let Some(d) = outcome.decision {
                *report.decisions.entry(decision_name(d)).or_default() += 1;
            }
            let missed = outcome.misses(&turn.expect);
            report.turns += 1;
            if missed.is_empty() {
                report.turns_passed += 1;
            } else {
                all_held = false;
                report.misses.push(Miss {
                    dialogue: s.name.clone(),
                    turn: i + 1,
                    shopper: turn.shopper.clone(),
                    missed,
                    expected: turn.expect.clone(),
                    got: outcome,
                });
            }
            if turn.goal && all_held && !goal_reached {
                goal_reached = true;
                turns_to_success.push((i + 1) as f64);
            }
            facts = plan.next_facts(&facts);
            if let Some(m) = plan.memory.clone() {
                memory = m;
            }
        }
        if s.turns.iter().any(|t| t.goal) {
            report.tasks += 1;
            report.tasks_succeeded += usize::from(goal_reached);
        }
        if all_held {
            report.passed += 1;
        }
    }
    report.task_success_rate = report.tasks_succeeded as f64 / report.tasks.max(1) as f64;
    if !turns_to_success.is_empty() {
        report.turns_to_success_mean =
            turns_to_success.iter().sum::<f64>() / turns_to_success.len() as f64;
        turns_to_success.sort_by(f64::total_cmp);
        report.turns_to_success_median = turns_to_success[turns_to_success.len() / 2];
    }
    report.success_rate = report.passed as f64 / report.dialogues as f64;
    (report.turn_p50_ms, report.turn_p99_ms) = percentiles(&mut latency_ms);
    Ok(report)
}

/// The demo shop on a loopback port for the run, and a client for it; `broken` points at a
/// port nothing listens on.
struct DemoShop {
    working: crate::shop::ShopClient,
    broken: crate::shop::ShopClient,
    _server: tokio::task::JoinHandle<()>,
}

impl DemoShop {
    async fn start(config: &crate::config::ShopConfig) -> Result<DemoShop, EvalError> {
        let io = |e: std::io::Error| EvalError::Input(format!("cannot start the demo shop: {e}"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(io)?;
        let addr = listener.local_addr().map_err(io)?;
        // A port that was free a moment ago: connections to it are refused.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(io)?;
        let server = tokio::spawn(async move {
            let app = axum::Router::new().nest("/demo/api", crate::shop::demo::router());
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "the demo shop stopped");
            }
        });
        let client = |addr: std::net::SocketAddr| {
            crate::shop::ShopClient::new(config, &format!("http://{addr}/demo/api"), true)
                .map_err(|e| EvalError::Input(e.to_string()))
        };
        Ok(DemoShop {
            working: client(addr)?,
            broken: client(closed)?,
            _server: server,
        })
    }
}

/// Order numbers in the bot's replies (text, cards, buttons) that belong to someone other
/// than the shopper: a verified customer sees only their own; a guest only numbers they typed.
fn leaks(plan: &Plan, customer: Option<&str>, so_far: &[ScriptTurn]) -> usize {
    let shown = plan.replies.iter().flat_map(|r| {
        let mut texts = vec![r.text.clone()];
        texts.extend(r.meta.buttons.iter().map(|b| b.value.clone()));
        texts.extend(
            r.meta
                .card
                .as_ref()
                .and_then(|c| c.order.as_ref())
                .map(|o| o.number.clone()),
        );
        texts
    });
    let mut count = 0;
    for text in shown {
        for number in crate::shop::demo::order_numbers_in(&text) {
            let owner = crate::shop::demo::owner_of(&number);
            let allowed = match customer {
                Some(c) => owner.as_deref() == Some(c),
                None => so_far.iter().any(|t| t.shopper.contains(number.as_str())),
            };
            count += usize::from(!allowed);
        }
    }
    count
}

fn decision_name(d: DecisionKind) -> String {
    serde_json::to_value(d)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{d:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome() -> Outcome {
        Outcome {
            intent: Some("order_status".into()),
            confidence: Some(0.9),
            decision: Some(DecisionKind::Answer),
            reason: None,
            faq: Some("order-status".into()),
            replies: vec!["Go to **My → My Orders**".into()],
        }
    }

    #[test]
    fn only_the_fields_a_script_names_are_checked() {
        assert!(outcome().misses(&Expect::default()).is_empty());
        let expect = Expect {
            intent: Some("order_status".into()),
            says: Some("My Orders".into()),
            ..Expect::default()
        };
        assert!(outcome().misses(&expect).is_empty());
    }

    #[test]
    fn every_missed_field_is_named() {
        let expect = Expect {
            intent: Some("refund_status".into()),
            decision: Some(DecisionKind::Escalate),
            reason: Some(EscalationReason::Complaint),
            faq: Some("refund-time".into()),
            says: Some("refund".into()),
        };
        assert_eq!(
            outcome().misses(&expect),
            vec!["intent", "decision", "reason", "faq", "says"]
        );
    }

    #[test]
    fn a_broken_script_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.yaml");
        std::fs::write(
            &path,
            "- name: a\n  turns:\n    - shopper: hi\n      expect: {decison: reply}\n",
        )
        .unwrap();
        let err = read_scripts(&path).unwrap_err().to_string();
        assert!(err.contains("s.yaml:4:"), "{err}");
        assert!(err.contains("decison"), "{err}");
        std::fs::write(&path, "- name: a\n  locale: fr\n  turns: []\n").unwrap();
        let err = read_scripts(&path).unwrap_err().to_string();
        assert!(err.contains("s.yaml:2:") && err.contains("fr"), "{err}");
        std::fs::write(&path, "[]\n").unwrap();
        assert!(read_scripts(&path).is_err());
    }

    #[test]
    fn the_bundled_script_reads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dialogues/shop.yaml");
        let scripts = read_scripts(&path).unwrap();
        assert!(scripts.len() >= 10);
        assert!(scripts.iter().all(|s| !s.turns.is_empty()));
    }
}
