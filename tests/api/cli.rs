//! The `baton` binary: lint reports content problems with file and line; serve refuses
//! invalid content with the same messages.

use std::process::Command;

use crate::helpers::{copy_dir, repo};

pub fn baton() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_baton"));
    // Keep the developer's environment and config file out of the test.
    c.env_remove("BATON_CONFIG")
        .current_dir(std::env::temp_dir());
    c
}

#[test]
fn lint_passes_on_the_sample_content() {
    let out = baton()
        .args(["lint", "--kb"])
        .arg(repo().join("kb"))
        .arg("--intents")
        .arg(repo().join("intents"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("0 error(s)"), "{stderr}");
}

#[test]
fn near_duplicates_and_confusable_examples_are_warnings_with_both_places() {
    let dir = tempfile::tempdir().unwrap();
    let (kb, intents) = (dir.path().join("kb"), dir.path().join("intents"));
    copy_dir(&repo().join("kb"), &kb);
    copy_dir(&repo().join("intents"), &intents);
    // A second FAQ asking what `cancel-order` asks, in other words.
    std::fs::write(
        kb.join("orders").join("cancel-again.en.md"),
        "---\nid: cancel-again\nlang: en\nquestion: How can I cancel my order?\n---\nAsk us.\n",
    )
    .unwrap();
    // An example of `invoice` that repeats one of `shipping_fee`.
    let invoice = intents.join("invoice.yaml");
    let text = std::fs::read_to_string(&invoice).unwrap();
    let text = text.replacen("  en:\n", "  en:\n    - is the shipping free?\n", 1);
    std::fs::write(&invoice, text).unwrap();

    let out = baton()
        .args(["lint", "--format", "json", "--kb"])
        .arg(&kb)
        .arg("--intents")
        .arg(&intents)
        .output()
        .unwrap();
    assert!(out.status.success(), "warnings alone do not fail lint");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["errors"], 0, "{report:#}");
    let warnings: Vec<&serde_json::Value> =
        report["diagnostics"].as_array().unwrap().iter().collect();
    // Reported once, on one of the two files, pointing at the other one's line.
    let dups: Vec<&&serde_json::Value> = warnings
        .iter()
        .filter(|d| d["message"].as_str().unwrap().contains("nearly the same"))
        .collect();
    assert_eq!(dups.len(), 1, "{report:#}");
    let dup = dups[0];
    assert_eq!(dup["line"], 4);
    let message = dup["message"].as_str().unwrap();
    let (here, there) = if dup["path"]
        .as_str()
        .unwrap()
        .ends_with("cancel-again.en.md")
    {
        ("cancel-again", "cancel-order")
    } else {
        ("cancel-order", "cancel-again")
    };
    assert!(
        dup["path"]
            .as_str()
            .unwrap()
            .ends_with(&format!("{here}.en.md"))
    );
    assert!(message.contains(&format!("FAQ \"{there}\"")), "{message}");
    assert!(
        message.contains(&format!("{there}.en.md:4")),
        "the other place: {message}"
    );
    assert!(message.contains("similarity"), "{message}");
    let confusable = warnings
        .iter()
        .find(|d| {
            d["path"].as_str().unwrap().ends_with("invoice.yaml")
                && d["message"]
                    .as_str()
                    .unwrap()
                    .contains("is the shipping free?")
        })
        .unwrap_or_else(|| panic!("no confusable-example warning: {report:#}"));
    let message = confusable["message"].as_str().unwrap();
    assert!(
        message.contains("closer to \"is shipping free\" of intent \"shipping_fee\""),
        "{message}"
    );
    assert!(
        message.contains("shipping_fee.yaml:36"),
        "the other place: {message}"
    );
}

#[test]
fn a_broken_faq_file_is_reported_with_file_and_line_and_blocks_serve() {
    let dir = tempfile::tempdir().unwrap();
    let kb = dir.path().join("kb");
    copy_dir(&repo().join("kb"), &kb);
    let broken = kb.join("orders").join("broken.zh.md");
    std::fs::write(
        &broken,
        "---\nid: broken\nlang: zh\nquestion: [没有闭合\n---\n答案\n",
    )
    .unwrap();

    let out = baton()
        .args(["lint", "--kb"])
        .arg(&kb)
        .arg("--intents")
        .arg(repo().join("intents"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!("{}:", broken.display());
    let line = stderr
        .lines()
        .find(|l| l.starts_with(&expected))
        .unwrap_or_else(|| panic!("{stderr}"));
    let after = &line[expected.len()..];
    assert!(
        after.split(':').next().unwrap().parse::<usize>().is_ok(),
        "a line number: {line}"
    );

    let json = baton()
        .args(["lint", "--format", "json", "--kb"])
        .arg(&kb)
        .arg("--intents")
        .arg(repo().join("intents"))
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["errors"], 1);
    let errors: Vec<&serde_json::Value> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == "error")
        .collect();
    assert_eq!(errors.len(), 1, "{report:#}");
    assert!(
        errors[0]["path"]
            .as_str()
            .unwrap()
            .ends_with("broken.zh.md")
    );

    let serve = baton()
        .args(["serve", "--addr", "127.0.0.1:0", "--kb"])
        .arg(&kb)
        .arg("--intents")
        .arg(repo().join("intents"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert_eq!(serve.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&serve.stderr);
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn unknown_configuration_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("baton.toml");
    std::fs::write(&file, "[policy]\nanswer_treshold = 0.5\n").unwrap();
    let out = baton()
        .arg("--config")
        .arg(&file)
        .args(["lint"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("answer_treshold"));
}

/// `baton eval` with the encoder: the report directory gets its JSON and both plots, and
/// `eval kb` puts BM25 alone beside the hybrid.
#[test]
fn eval_writes_the_report_and_compares_with_bm25() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, lines: &[serde_json::Value]| {
        let body: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        std::fs::write(dir.path().join(name), body.join("\n")).unwrap();
        dir.path().join(name)
    };
    let mk = |t: &str, l: &str| serde_json::json!({"text": t, "label": l});
    let mut train = Vec::new();
    for (label, texts) in [
        (
            "track",
            [
                "where is my order",
                "track my parcel",
                "has my package shipped",
                "order status please",
                "when will my delivery arrive",
                "where's my stuff",
            ],
        ),
        (
            "refund",
            [
                "i want a refund",
                "give me my money back",
                "refund my purchase",
                "how do i get reimbursed",
                "return the money to my card",
                "can i get a refund",
            ],
        ),
    ] {
        train.extend(texts.iter().map(|t| mk(t, label)));
    }
    let train = write("train.jsonl", &train);
    let valid = write(
        "valid.jsonl",
        &[
            mk("where is my parcel now", "track"),
            mk("money back please", "refund"),
            mk("what is the weather like", "oos"),
            mk("tell me a joke", "oos"),
        ],
    );
    let test = write(
        "test.jsonl",
        &[
            mk("track my order", "track"),
            mk("i need a refund", "refund"),
            mk("who won the game", "oos"),
        ],
    );
    let report = dir.path().join("report");
    let cache = dir.path().join("cache");
    let out = baton()
        .args(["eval", "intents", "--train"])
        .arg(&train)
        .arg("--valid")
        .arg(&valid)
        .arg("--test")
        .arg(&test)
        .arg("--report")
        .arg(&report)
        .arg("--encoder")
        .arg(repo().join("models/all-MiniLM-L6-v2"))
        .arg("--embedding-cache")
        .arg(&cache)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["in_scope_accuracy"], 1.0, "{summary:#}");
    assert!(
        summary["model"]
            .as_str()
            .unwrap()
            .contains("all-MiniLM-L6-v2")
    );
    let details: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("report.json")).unwrap()).unwrap();
    assert!(!details["validation_sweep"].as_array().unwrap().is_empty());
    assert_eq!(
        details["per_intent"].as_array().unwrap().len(),
        3,
        "track, refund, oos"
    );
    for png in ["sweep.png", "confidence.png"] {
        let bytes = std::fs::read(report.join(png)).unwrap();
        assert_eq!(&bytes[..4], b"\x89PNG", "{png}");
    }

    let faqs = write(
        "faqs.jsonl",
        &[
            serde_json::json!({"id": "refund-time", "question": "How long does a refund take?", "answer": "3 days", "lang": "en"}),
            serde_json::json!({"id": "shipping", "question": "Do you ship abroad?", "answer": "Yes", "lang": "en"}),
        ],
    );
    let queries = write(
        "queries.jsonl",
        &[
            serde_json::json!({"query": "when will the money be back on my card", "id": "refund-time"}),
        ],
    );
    let out = baton()
        .args(["eval", "kb", "--faqs"])
        .arg(&faqs)
        .arg("--queries")
        .arg(&queries)
        .arg("--encoder")
        .arg(repo().join("models/all-MiniLM-L6-v2"))
        .arg("--embedding-cache")
        .arg(&cache)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kb: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(kb["recall@1"], 1.0, "{kb:#}");
    assert!(kb["bm25"]["recall@1"].is_number(), "{kb:#}");

    // A missing model is an error for eval: it must measure what it says it measures.
    let out = baton()
        .args(["eval", "kb", "--faqs"])
        .arg(&faqs)
        .arg("--queries")
        .arg(&queries)
        .arg("--encoder")
        .arg(dir.path().join("no-such-model"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("models/install.sh"));
}

/// `baton eval dialogues` replays the bundled script through the bot turn on the sample
/// content; a script expecting what the bot does not do fails, naming the turn and what came.
#[test]
fn eval_dialogues_replays_scripts_and_names_every_miss() {
    let dir = tempfile::tempdir().unwrap();
    let run = |script: &std::path::Path| {
        baton()
            .args(["eval", "dialogues", "--script"])
            .arg(script)
            .arg("--kb")
            .arg(repo().join("kb"))
            .arg("--intents")
            .arg(repo().join("intents"))
            .arg("--models")
            .arg(repo().join("models"))
            .arg("--data-dir")
            .arg(dir.path())
            .output()
            .unwrap()
    };
    let out = run(&repo().join("tests/dialogues/shop.yaml"));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success(), "{report:#}");
    assert_eq!(report["passed"], report["dialogues"], "{report:#}");
    assert!(report["dialogues"].as_u64().unwrap() >= 10);
    assert!(report["decisions"]["escalate"].as_u64().unwrap() > 0);

    let wrong = dir.path().join("wrong.yaml");
    std::fs::write(
        &wrong,
        "- name: asks for a person\n  turns:\n    - shopper: 转人工\n      expect: {decision: answer}\n    - shopper: 人呢\n      expect: {decision: silent}\n",
    )
    .unwrap();
    let out = run(&wrong);
    assert!(!out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["passed"], 0, "{report:#}");
    assert_eq!(
        report["turns_passed"], 1,
        "the handoff carried to the next turn"
    );
    let miss = &report["misses"][0];
    assert_eq!(miss["turn"], 1);
    assert_eq!(miss["missed"], serde_json::json!(["decision"]));
    assert_eq!(miss["got"]["decision"], "escalate");
    assert_eq!(miss["got"]["reason"], "requested_human");

    std::fs::write(
        &wrong,
        "- name: x\n  turns:\n    - shopper: hi\n      expect: {decison: reply}\n",
    )
    .unwrap();
    let out = run(&wrong);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("wrong.yaml:4:"), "{stderr}");
}

#[test]
fn the_order_scripts_reach_their_goals_without_a_leak() {
    let dir = tempfile::tempdir().unwrap();
    let out = baton()
        .args(["eval", "dialogues", "--script"])
        .arg(repo().join("tests/dialogues/orders.yaml"))
        .arg("--kb")
        .arg(repo().join("kb"))
        .arg("--intents")
        .arg(repo().join("intents"))
        .arg("--models")
        .arg(repo().join("models"))
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["dialogues"].as_u64().unwrap() >= 40, "{report:#}");
    assert_eq!(report["wrong_customer_leaks"], 0, "{report:#}");
    assert!(
        report["task_success_rate"].as_f64().unwrap() >= 0.95,
        "{report:#}"
    );
}

#[test]
fn a_broken_actions_file_is_reported_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let intents = dir.path().join("intents");
    copy_dir(&repo().join("intents"), &intents);
    let actions = intents.join("actions").join("shop.yaml");
    std::fs::write(
        &actions,
        "preset: reference\ncalls:\n  stock:\n    kind: read\n    method: GET\n    path: /stock/{{ sku }}?k={{ env.BATON_SHOP_TOKEN }}\n    fields: {stock: qty}\n",
    )
    .unwrap();
    let out = baton()
        .args(["lint", "--kb"])
        .arg(repo().join("kb"))
        .arg("--intents")
        .arg(&intents)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let at = format!("{}:3:", actions.display());
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with(&at) && l.contains("only be used in headers")),
        "{stderr}"
    );
    assert!(stderr.contains("not a JSON pointer"), "{stderr}");

    // A task naming a call nobody declared points at the intent file.
    std::fs::write(&actions, "preset: reference\n").unwrap();
    let intent = intents.join("order_status.yaml");
    let text = std::fs::read_to_string(&intent).unwrap();
    std::fs::write(
        &intent,
        text.replace("reads: [order, logistics]", "reads: [order, tracking]"),
    )
    .unwrap();
    let out = baton()
        .args(["lint", "--kb"])
        .arg(repo().join("kb"))
        .arg("--intents")
        .arg(&intents)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("order_status.yaml:") && stderr.contains("\"tracking\""),
        "{stderr}"
    );
}

#[test]
fn broken_trigger_rules_and_handoff_modes_are_reported_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let (kb, intents) = (dir.path().join("kb"), dir.path().join("intents"));
    copy_dir(&repo().join("kb"), &kb);
    copy_dir(&repo().join("intents"), &intents);
    let triggers = intents.join("rules").join("triggers.yaml");
    std::fs::write(
        &triggers,
        "triggers:\n  - id: threat\n    words: [曝光]\n    patterns: ['[unclosed']\n    tag: threat\n",
    )
    .unwrap();
    let faq = kb.join("orders").join("urge-shipment.en.md");
    let text = std::fs::read_to_string(&faq).unwrap();
    std::fs::write(&faq, text.replace("handoff: notify", "handoff: maybe")).unwrap();
    let out = baton()
        .args(["lint", "--kb"])
        .arg(&kb)
        .arg("--intents")
        .arg(&intents)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let pattern_at = format!("{}:4: error: pattern \"[unclosed\"", triggers.display());
    assert!(stderr.contains(&pattern_at), "{stderr}");
    let handoff_at = format!("{}:16: error:", faq.display());
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with(&handoff_at) && l.contains("maybe")),
        "{stderr}"
    );
}
