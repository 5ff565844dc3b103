//! The dashboard's rules editor: the lead opens a rules file, a broken edit is refused with
//! its line and changes nothing, a good one is saved and goes live.

use fantoccini::Locator;

use crate::chrome::browser;
use crate::helpers::{ADMIN_TOKEN, editable_app, eventually};

#[tokio::test]
async fn the_lead_edits_a_rules_file_on_the_dashboard() {
    let (app, _dir) = editable_app(false).await;
    let b = browser(1280, 900).await;
    crate::admin::sign_in(&b, &app, ADMIN_TOKEN, "zh").await;
    b.until(
        "the trigger rules, opened first",
        "document.getElementById('rules-path').textContent === 'intents/rules/triggers.yaml' && document.getElementById('rules-text').value.includes('triggers:')",
    )
    .await;
    b.js("const s = document.getElementById('rules-file'); s.value = 'quality'; s.dispatchEvent(new Event('change')); return null;")
        .await;
    b.until(
        "the quality rules",
        "document.getElementById('rules-path').textContent === 'intents/rules/quality.yaml' && document.getElementById('rules-text').value.includes('forbidden-phrase')",
    )
    .await;

    let before = app.service.knowledge().content.quality.rules.len();
    b.js("document.getElementById('rules-text').value = 'sample_rate: 0.5\\nrules:\\n  - id: rude\\n    check: forbidden_phrases\\n    points: 120\\n    words: [滚]\\n'; return null;")
        .await;
    b.click(Locator::Id("rules-save")).await;
    b.until(
        "the problem, by line",
        "document.getElementById('rules-problems').textContent.includes('第 5 行') && document.getElementById('rules-result').classList.contains('bad')",
    )
    .await;
    b.js("document.getElementById('h-rules').scrollIntoView(); return null;")
        .await;
    b.screenshot("admin-rules").await;
    assert_eq!(
        app.service.knowledge().content.quality.rules.len(),
        before,
        "nothing changed"
    );

    b.js("document.getElementById('rules-text').value = 'sample_rate: 0.5\\nrules:\\n  - id: rude\\n    check: forbidden_phrases\\n    points: 20\\n    words: [滚]\\n'; return null;")
        .await;
    b.click(Locator::Id("rules-save")).await;
    b.until(
        "saved",
        "document.getElementById('rules-result').textContent.includes('已保存') && document.getElementById('rules-problems').children.length === 0",
    )
    .await;
    eventually("the edited rules are live", || {
        app.service.knowledge().content.quality.sample_rate == 0.5
    })
    .await;
    b.close().await;
}
