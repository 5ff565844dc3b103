//! The support lead's dashboard on `/admin`: a wrong token is refused; the right one shows
//! the numbers of the conversations this test had (one answered in Chinese, one in English,
//! one the knowledge base does not cover, one that asked the same, was handed to an agent,
//! resolved and rated), the charts, the knowledge gap and the FAQ draft the agent's answer
//! became; approving the draft writes the FAQ file; shopper text stays text; sign-out
//! forgets the token; the page fits a phone.

use std::time::Duration;

use baton::clock::Clock;
use fantoccini::Locator;
use serde_json::{Value, json};

use crate::chrome::{Browser, browser};
use crate::helpers::{ADMIN_TOKEN, TestApp, copy_dir, repo, spawn_app_at, test_config};

/// Markup a shopper might type; the dashboard must show it as text wherever it appears.
const INJECTION: &str = "<img src=x onerror=\"window.__pwned=1\">你们的仓库能帮我寄存自行车吗";

/// A question the sample knowledge base has no answer for; the agent's answer to it becomes
/// a draft. Whatever the bot makes of it (out of scope, or a wrong guess such as shipping
/// fees), the shopper then asks for a person, which makes it a gap either way.
const UNKNOWN: &str = "你们的仓库可以帮我寄存自行车吗？";

/// The conversations the test creates; the conversations tile must show this many.
const CONVERSATIONS: u32 = 4;

/// Opens the dashboard in `lang` (`zh` or `en`: the language of the texts a test looks for,
/// whatever the browser's own) and signs in with `token`.
pub(crate) async fn sign_in(b: &Browser, app: &TestApp, token: &str, lang: &str) {
    b.client
        .goto(&app.url(&format!("/admin?lang={lang}")))
        .await
        .unwrap();
    b.until(
        "the sign-in form",
        "!document.getElementById('signin').hidden",
    )
    .await;
    b.type_in(Locator::Id("token"), token).await;
    b.click(Locator::Css("#signin-form button")).await;
}

/// Signs in with the right token and waits until the numbers and a chart are there.
async fn open_dashboard(b: &Browser, app: &TestApp) {
    sign_in(b, app, ADMIN_TOKEN, "en").await;
    b.until("the dashboard", "!document.getElementById('app').hidden")
        .await;
    b.until(
        "the numbers",
        "document.getElementById('updated').textContent.startsWith('Updated')",
    )
    .await;
}

/// One shopper conversation of one message; returns its id and token.
async fn chat(app: &TestApp, locale: &str, text: &str) -> (String, String) {
    let (id, token) = app
        .create(json!({"channel": "web", "locale": locale, "customer": {"id": "u-admin-test"}}))
        .await;
    app.say(&id, &token, text).await;
    (id, token)
}

fn path(id: &str, action: &str) -> String {
    format!("/v1/agent/conversations/{id}/{action}")
}

#[tokio::test]
async fn the_dashboard_shows_the_numbers_charts_gaps_and_drafts() {
    let temp = tempfile::tempdir().unwrap();
    // Approving a draft writes into `kb/`: a copy, not the repository's.
    let kb = temp.path().join("content").join("kb");
    copy_dir(&repo().join("kb"), &kb);
    let mut config = test_config(&temp.path().join("data"));
    config.kb = kb.clone();
    config.admin_token = Some(ADMIN_TOKEN.into());
    // The test runs at the real time of day, so the team must be on duty at any hour.
    config.hours.default.open = "00:00".into();
    config.hours.default.close = "24:00".into();
    // The page asks for a range ending at the browser's clock; the server's manual clock
    // stands a few minutes before real time (not on the helpers' fixed date) so that all
    // this test does, advances included, falls inside the range.
    let start = jiff::Timestamp::now().as_millisecond() - 10 * 60 * 1000;
    let app = spawn_app_at(config, Clock::manual(start)).await;

    chat(&app, "zh-CN", "退货的运费是谁出的？").await;
    chat(&app, "en-US", "How do I get an invoice?").await;
    chat(&app, "zh-CN", INJECTION).await;
    // The same question again; this shopper then asks for a person: queued, accepted,
    // answered, resolved and rated, so waiting, response and handling times and CSAT have
    // values, and the agent's answer is proposed as an FAQ draft.
    // The handoff goes to the group of whatever the bot understood: the agent is in them all.
    let wang = app
        .add_agent(
            "王芳",
            &[
                "general",
                "after_sales",
                "shipping",
                "orders",
                "billing",
                "account",
                "complaints",
            ],
            3,
        )
        .await;
    app.online(&wang).await;
    let (id, token) = chat(&app, "zh-CN", UNKNOWN).await;
    let out = app.say(&id, &token, "转人工").await;
    assert_eq!(out["state"], "queued", "{out:#}");
    app.advance(Duration::from_secs(20)).await;
    let (s, b) = app.agent_post(&wang, &path(&id, "accept"), json!({})).await;
    assert_eq!(s, 200, "{b}");
    app.advance(Duration::from_secs(35)).await;
    let (s, b) = app
        .agent_post(
            &wang,
            &path(&id, "messages"),
            json!({"text": "您好，仓库不提供寄存服务，自行车请您自行保管。", "client_msg_id": "r1"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    // Each step stays within the agent's presence grace (60 s without a sign of life).
    app.advance(Duration::from_secs(50)).await;
    let (s, b) = app
        .agent_post(&wang, &path(&id, "resolve"), json!({}))
        .await;
    assert_eq!(s, 200, "{b}");
    let r = app
        .client
        .post(app.url(&format!("/v1/conversations/{id}/rating")))
        .bearer_auth(&token)
        .json(&json!({"score": 4}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // The draft is proposed off the agent's path; wait until it is stored.
    let mut drafts = Value::Null;
    for _ in 0..100 {
        let (s, b) = app
            .admin(reqwest::Method::GET, "/v1/admin/kb/drafts", None)
            .await;
        assert_eq!(s, 200, "{b}");
        drafts = b;
        if drafts["drafts"].as_array().is_some_and(|d| !d.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        drafts["drafts"].as_array().map(Vec::len),
        Some(1),
        "one draft from the resolved handoff: {drafts}"
    );
    let (_, stats) = app
        .admin(reqwest::Method::GET, "/v1/admin/stats", None)
        .await;

    // A wrong token is refused with a message, and the form stays.
    let wide = browser(1280, 1400).await;
    sign_in(&wide, &app, "not-the-admin-token-at-all", "en").await;
    wide.until(
        "the refusal",
        "document.getElementById('signin-error').textContent.includes('not accepted')",
    )
    .await;
    assert_eq!(
        wide.js("return document.getElementById('app').hidden;")
            .await,
        json!(true)
    );

    open_dashboard(&wide, &app).await;
    let conversations = wide
        .js("return document.querySelector('#t-conversations .value').textContent;")
        .await;
    assert_eq!(
        conversations,
        json!(CONVERSATIONS.to_string()),
        "the conversations tile counts what the test created; the API says {stats}"
    );
    let tiles = wide
        .js("return [...document.querySelectorAll('.tile')].map(t => [t.id, t.querySelector('.value').textContent, t.querySelector('.sub').textContent]);")
        .await;
    let tile = |id: &str| -> String {
        tiles
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t[0] == id)
            .and_then(|t| t[1].as_str())
            .unwrap_or_else(|| panic!("no tile {id} in {tiles}"))
            .to_string()
    };
    assert!(tile("t-escalation").ends_with('%'), "{tiles}\n{stats}");
    assert!(
        tile("t-csat").starts_with('4'),
        "one rating of 4: {tiles}\n{stats}"
    );
    assert!(tile("t-queue").ends_with("p50"), "{tiles}\n{stats}");
    assert!(tile("t-first").ends_with("p50"), "{tiles}\n{stats}");
    assert!(tile("t-handle").ends_with("p50"), "{tiles}\n{stats}");

    // Charts: SVG with bars for the volume over time, with tooltips.
    wide.until(
        "the volume chart",
        "document.querySelectorAll('#ch-volume svg rect.bar').length > 0",
    )
    .await;
    let charts = wide
        .js("return [document.querySelectorAll('#charts svg.chart-svg').length, document.querySelectorAll('#ch-volume svg title').length, document.querySelector('#ch-csat svg') !== null];")
        .await;
    assert!(charts[0].as_u64().unwrap() >= 3, "{charts}");
    assert!(charts[1].as_u64().unwrap() >= 1, "{charts}");
    assert_eq!(charts[2], json!(true), "the rating is charted: {charts}");

    // The knowledge base line, the gap, the draft; shopper text rendered as text.
    wide.until(
        "the knowledge base status",
        "document.getElementById('kb-line').textContent.includes('FAQs')",
    )
    .await;
    wide.until(
        "the knowledge gap",
        "[...document.querySelectorAll('#gaps li.card')].some(li => li.textContent.includes('寄存自行车'))",
    )
    .await;
    wide.until(
        "the draft",
        "document.querySelectorAll('#drafts li.draft').length === 1 && document.querySelector('#drafts li.draft').textContent.includes('不提供寄存服务')",
    )
    .await;
    let injected = wide
        .js("return [document.querySelectorAll('#app img').length, window.__pwned === undefined];")
        .await;
    assert_eq!(injected, json!([0, true]), "no element, no script");
    let errors = wide
        .js("return [...document.querySelectorAll('#app .error')].map(e => e.textContent).filter(t => t);")
        .await;
    assert_eq!(errors, Value::Array(vec![]), "every section loaded");
    wide.screenshot("admin-dashboard").await;
    wide.js("document.getElementById('h-gaps').closest('section').scrollIntoView(); return null;")
        .await;
    wide.screenshot("admin-knowledge").await;

    // Approving the draft writes it as an FAQ file and says where.
    wide.click(Locator::Css(
        "#drafts li.draft button[data-action='approve']",
    ))
    .await;
    let result = wide
        .until(
            "the approval",
            "document.getElementById('draft-result').textContent.includes('written to') && document.getElementById('draft-result').textContent",
        )
        .await;
    let result = result.as_str().unwrap();
    let written = result
        .split("written to ")
        .nth(1)
        .unwrap()
        .trim_end_matches('.');
    assert!(written.starts_with("kb/"), "{result}");
    assert!(
        kb.parent().unwrap().join(written).is_file(),
        "{written} exists"
    );
    wide.until(
        "the draft gone from the list",
        "document.querySelectorAll('#drafts li.draft').length === 0",
    )
    .await;

    // The range picker asks again; the last 24 hours hold the same conversations.
    wide.click(Locator::Css(".range button[data-range='24h']"))
        .await;
    wide.until(
        "the 24-hour range",
        "document.querySelector(\".range button[data-range='24h']\").getAttribute('aria-pressed') === 'true' && document.getElementById('updated').textContent.startsWith('Updated')",
    )
    .await;
    wide.until(
        "the same count",
        &format!(
            "document.querySelector('#t-conversations .value').textContent === '{CONVERSATIONS}'"
        ),
    )
    .await;

    // Signing out forgets the token.
    wide.click(Locator::Id("signout")).await;
    wide.until(
        "the sign-in form again",
        "!document.getElementById('signin').hidden && sessionStorage.getItem('baton-admin-token') === null",
    )
    .await;
    wide.close().await;

    // On a phone: the same page in one column, nothing wider than the screen.
    let phone = browser(390, 844).await;
    open_dashboard(&phone, &app).await;
    phone
        .until(
            "the volume chart",
            "document.querySelectorAll('#ch-volume svg rect.bar').length > 0",
        )
        .await;
    let fits = phone
        .js("return [document.documentElement.scrollWidth, window.innerWidth];")
        .await;
    assert!(
        fits[0].as_u64().unwrap() <= fits[1].as_u64().unwrap(),
        "no sideways scrolling: {fits}"
    );
    phone.screenshot("admin-phone").await;
    phone.close().await;

    app.stop().await;
    drop(temp);
}
