//! The console and the dashboard in the reader's language: each opens in the language the
//! address asks for (`?lang=zh`), switches between Chinese and English at once from the
//! sign-in card and from the header, without a reload and without labels in both languages
//! side by side, and keeps the choice across a reload. What the server sent (names, messages)
//! stays as it came.

use std::time::Duration;

use baton::clock::Clock;
use fantoccini::Locator;
use serde_json::{Value, json};

use crate::chrome::{Browser, browser};
use crate::helpers::{ADMIN_TOKEN, ALL_SKILLS, spawn_app, spawn_app_at, test_config};

/// JavaScript: the page's own words that are not in `lang` (the first argument), as a list.
/// In English: any Chinese. In Chinese: a label with no Chinese, or with English words beside
/// the Chinese (as in the old "令牌 / Agent token"); the names of things that are the same in
/// both languages (Baton, SKU, FAQ…) do not count. Text inside the elements the second
/// argument selects is the server's and is left out, and so is the language switch, which
/// names each language in that language.
const WRONG_WORDS: &str = r#"
const [lang, data] = arguments;
const skip = (el) => !el || el.closest('.lang-switch, ' + data);
const chinese = /[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]/;
const same = new Set(['Baton', 'SKU', 'VIP', 'SLA', 'FAQ', 'CSAT', 'CSV', 'HTTP', 'Enter', 'billing']);
const mixed = (text) => chinese.test(text) && (text.match(/[A-Za-z]{3,}/g) || []).some((w) => !same.has(w));
const texts = [document.title];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let n = walker.nextNode(); n; n = walker.nextNode()) {
  if (n.nodeValue.trim() && !skip(n.parentElement)) texts.push(n.nodeValue.trim());
}
const attributes = ['placeholder', 'title', 'aria-label'];
for (const el of document.querySelectorAll('[placeholder], [title], [aria-label]')) {
  if (!skip(el)) for (const a of attributes) if (el.getAttribute(a)) texts.push(el.getAttribute(a));
}
if (lang === 'en') return texts.filter((t) => chinese.test(t));
const wrong = texts.filter(mixed);
for (const el of document.querySelectorAll('[data-i18n]')) {
  if (!skip(el) && !chinese.test(el.textContent)) wrong.push(el.textContent);
}
for (const a of attributes) for (const el of document.querySelectorAll(`[data-i18n-${a}]`)) {
  if (!chinese.test(el.getAttribute(a))) wrong.push(el.getAttribute(a));
}
return wrong;
"#;

/// Server data on the console: what the shopper, the bot and the shop wrote, the agent's
/// skill groups and the wrap-up categories' labels.
const CONSOLE_DATA: &str = "#me-skills, #c-summary, #c-transcript, #c-assist, #c-notes, \
     #c-page, #c-orders, #c-calls .url, #c-calls .fields, #c-calls pre, #l-result .fields, \
     #l-known, .list .line2, #wrap-category option:not([value=''])";

/// Server data on the dashboard: knowledge base errors, what shoppers asked, the drafts'
/// text, chart tooltips and row labels that name FAQs and intents by their ids, agents'
/// names, and the rules files' paths and the server's words about them.
const ADMIN_DATA: &str = "#kb-errors, #gaps .rep, #gaps .examples, #gaps .nearest, \
     #drafts .question, #drafts .answer, #draft-result, svg title, svg .row-label, \
     #quality-agents, #rules-path, #rules-problems, #rules-result";

async fn assert_words_in(b: &Browser, lang: &str, data: &str) {
    let wrong = b
        .client
        .execute(WRONG_WORDS, vec![json!(lang), json!(data)])
        .await
        .expect("the words check runs");
    assert_eq!(wrong, json!([]), "words not in {lang}");
    let unknown = b.js("return window.BatonI18n.unknown();").await;
    assert_eq!(unknown, json!([]), "keys without a message");
}

/// Picks `lang` in the language switch inside `within` (the sign-in card or the header) and
/// checks that the page switched in place: same document, `<html lang>` set, choice stored.
async fn switch(b: &Browser, within: &str, lang: &str) {
    b.js("window.__sameDocument = true; return null;").await;
    b.client
        .find(Locator::Css(&format!("{within} .lang-switch")))
        .await
        .unwrap_or_else(|e| panic!("a language switch in {within}: {e}"))
        .select_by_value(lang)
        .await
        .unwrap();
    let html = if lang == "zh" { "zh-CN" } else { "en" };
    b.until(
        &format!("the page in {lang}"),
        &format!("document.documentElement.lang === '{html}'"),
    )
    .await;
    let state = b
        .js("return [window.__sameDocument === true, localStorage.getItem('baton.lang'), [...document.querySelectorAll('.lang-switch')].map(s => s.value)];")
        .await;
    assert_eq!(state[0], json!(true), "switched without a reload");
    assert_eq!(state[1], json!(lang), "the choice is stored");
    assert!(
        state[2].as_array().unwrap().iter().all(|v| v == lang),
        "every switch on the page shows it: {state}"
    );
}

/// The text of the element `css` finds.
async fn text(b: &Browser, css: &str) -> String {
    let v = b
        .js(&format!(
            "return document.querySelector({css:?}).textContent.trim();"
        ))
        .await;
    v.as_str().unwrap_or_default().to_string()
}

/// Reloads and waits until the signed-in page is back.
async fn reload(b: &Browser, ready: &str) {
    b.client.refresh().await.unwrap();
    b.until("the page after the reload", ready).await;
    assert_eq!(
        b.js("return window.__sameDocument === undefined;").await,
        json!(true),
        "a new document"
    );
}

#[tokio::test]
async fn the_console_switches_between_chinese_and_english() {
    let app = spawn_app().await;
    let alice = app.add_agent("Alice", ALL_SKILLS, 3).await;
    let b = browser(1400, 900).await;

    // `?lang=zh` opens the console in Chinese, is stored, and leaves the address.
    b.client.goto(&app.url("/console?lang=zh")).await.unwrap();
    b.until(
        "the sign-in form",
        "!document.getElementById('signin').hidden",
    )
    .await;
    let opened = b
        .js("return [document.documentElement.lang, location.search, localStorage.getItem('baton.lang'), document.querySelector('#signin h1').textContent, document.title];")
        .await;
    assert_eq!(
        opened,
        json!(["zh-CN", "", "zh", "Baton 客服工作台", "Baton · 客服工作台"])
    );
    assert_words_in(&b, "zh", CONSOLE_DATA).await;

    // The sign-in card switches too, both ways.
    switch(&b, "#signin", "en").await;
    assert_eq!(text(&b, "#signin h1").await, "Baton agent console");
    assert_eq!(text(&b, "label[for=token]").await, "Agent token");
    assert_eq!(
        text(&b, "#signin p").await,
        "Sign in with the token that baton agent add gave you."
    );
    assert_words_in(&b, "en", CONSOLE_DATA).await;
    switch(&b, "#signin", "zh").await;
    assert_eq!(text(&b, "#signin h1").await, "Baton 客服工作台");
    assert_eq!(
        text(&b, "#signin p").await,
        "用 baton agent add 给出的令牌登录。"
    );

    // Signed in, online, with a shopper who asked for a person, accepted.
    b.type_in(Locator::Id("token"), &alice.token).await;
    b.click(Locator::Css("#signin-form button")).await;
    b.until(
        "connected",
        "!document.getElementById('app').hidden && document.getElementById('conn').classList.contains('ok')",
    )
    .await;
    b.client
        .find(Locator::Id("status"))
        .await
        .unwrap()
        .select_by_value("online")
        .await
        .unwrap();
    b.until(
        "online",
        "document.getElementById('status').value === 'online'",
    )
    .await;
    app.tick().await;
    let (id, token) = app.create(json!({"locale": "en"})).await;
    let out = app
        .say(&id, &token, "I want to talk to a person please")
        .await;
    assert_eq!(out["state"], "queued", "{out:#}");
    app.tick().await;
    b.until(
        "the offer",
        "document.querySelectorAll('#offers li').length === 1",
    )
    .await;
    b.click(Locator::Css("#offers li button.primary")).await;
    b.until(
        "the conversation",
        "!document.getElementById('detail').hidden && document.getElementById('c-badges').textContent.includes('顾客要求人工')",
    )
    .await;
    let queue = "document.getElementById('queue-count').parentElement.textContent.trim()";
    assert_eq!(b.js(&format!("return {queue};")).await, json!("排队中 0"));
    assert_eq!(text(&b, "#conn").await, "● 已连接");
    assert_words_in(&b, "zh", CONSOLE_DATA).await;

    // To English from the header: the markup and what the console draws itself.
    switch(&b, "#app", "en").await;
    assert_eq!(b.js(&format!("return {queue};")).await, json!("Queued 0"));
    let badges = text(&b, "#c-badges").await;
    assert!(
        badges.contains("Asked for a person") && !badges.contains("顾客要求人工"),
        "{badges}"
    );
    assert_eq!(text(&b, "#conn").await, "● Connected");
    assert_eq!(text(&b, "#status option[value=online]").await, "Online");
    assert_eq!(text(&b, "#resolve").await, "Resolve");
    assert_eq!(
        b.js("return document.getElementById('reply').placeholder;")
            .await,
        json!("Reply to the shopper (Enter to send)")
    );
    assert_eq!(
        b.js("return document.title;").await,
        json!("Baton · Agent console")
    );
    assert_words_in(&b, "en", CONSOLE_DATA).await;
    b.js("document.activeElement.blur(); return null;").await;
    b.screenshot("console-en").await;

    // The choice outlives a reload.
    reload(
        &b,
        "!document.getElementById('app').hidden && document.getElementById('conn').classList.contains('ok') && document.querySelectorAll('#mine li').length === 1",
    )
    .await;
    assert_eq!(
        b.js("return [document.documentElement.lang, localStorage.getItem('baton.lang')];")
            .await,
        json!(["en", "en"])
    );
    assert_eq!(b.js(&format!("return {queue};")).await, json!("Queued 0"));
    b.click(Locator::Css("#mine li")).await;
    b.until(
        "the conversation again",
        "document.getElementById('c-badges').textContent.includes('Asked for a person')",
    )
    .await;
    assert_words_in(&b, "en", CONSOLE_DATA).await;

    // And back to Chinese.
    switch(&b, "#app", "zh").await;
    assert_eq!(b.js(&format!("return {queue};")).await, json!("排队中 0"));
    b.until(
        "the reason in Chinese",
        "document.getElementById('c-badges').textContent.includes('顾客要求人工')",
    )
    .await;
    assert_words_in(&b, "zh", CONSOLE_DATA).await;

    b.close().await;
    app.stop().await;
}

#[tokio::test]
async fn the_dashboard_switches_between_chinese_and_english() {
    let temp = tempfile::tempdir().unwrap();
    let mut config = test_config(&temp.path().join("data"));
    config.admin_token = Some(ADMIN_TOKEN.into());
    config.hours.default.open = "00:00".into();
    config.hours.default.close = "24:00".into();
    // The page asks for a range ending at the browser's clock: the server's clock stands a
    // few minutes before real time, so that these conversations fall inside it.
    let start = jiff::Timestamp::now().as_millisecond() - 10 * 60 * 1000;
    let app = spawn_app_at(config, Clock::manual(start)).await;
    for text in [
        "How do I get an invoice?",
        "Can you store my bicycle in your warehouse?",
        "I want to talk to a person please",
    ] {
        let (id, token) = app.create(json!({"locale": "en"})).await;
        app.say(&id, &token, text).await;
    }
    app.advance(Duration::from_secs(5)).await;

    let b = browser(1280, 1400).await;
    b.client.goto(&app.url("/admin?lang=zh")).await.unwrap();
    b.until(
        "the sign-in form",
        "!document.getElementById('signin').hidden",
    )
    .await;
    assert_eq!(text(&b, "#signin h1").await, "Baton 客服数据看板");
    assert_eq!(
        b.js("return [document.documentElement.lang, location.search];")
            .await,
        json!(["zh-CN", ""])
    );
    assert_words_in(&b, "zh", ADMIN_DATA).await;
    switch(&b, "#signin", "en").await;
    assert_eq!(text(&b, "#signin h1").await, "Baton support dashboard");
    assert_eq!(
        text(&b, "#signin p").await,
        "Sign in with the admin token (BATON_ADMIN_TOKEN). It is kept for this browser tab only."
    );
    switch(&b, "#signin", "zh").await;

    b.type_in(Locator::Id("token"), ADMIN_TOKEN).await;
    b.click(Locator::Css("#signin-form button")).await;
    let loaded = |prefix: &str| {
        format!(
            "!document.getElementById('app').hidden && document.getElementById('updated').textContent.startsWith('{prefix}') && document.querySelectorAll('#ch-volume svg rect.bar').length > 0"
        )
    };
    b.until("the dashboard", &loaded("更新于")).await;
    assert_eq!(text(&b, "#h-gaps [data-i18n]").await, "知识缺口");
    assert_eq!(text(&b, "#t-conversations .label").await, "会话");
    b.until(
        "the knowledge base line",
        "document.getElementById('kb-line').textContent.includes('条问答')",
    )
    .await;
    assert_words_in(&b, "zh", ADMIN_DATA).await;

    // To English from the header: headings, tiles, the charts drawn again, the lists.
    switch(&b, "#app", "en").await;
    let switched = b
        .js("return [document.querySelector('#h-gaps [data-i18n]').textContent, document.querySelector('#t-conversations .label').textContent, document.getElementById('updated').textContent, document.getElementById('kb-line').textContent, document.querySelector('#ch-volume svg').getAttribute('aria-label'), document.querySelector(\".range button[data-range='24h']\").textContent];")
        .await;
    assert_eq!(switched[0], json!("Knowledge gaps"), "{switched}");
    assert_eq!(switched[1], json!("Conversations"), "{switched}");
    assert!(
        switched[2].as_str().unwrap().starts_with("Updated "),
        "{switched}"
    );
    assert!(switched[3].as_str().unwrap().contains("FAQs"), "{switched}");
    assert!(
        switched[4]
            .as_str()
            .unwrap()
            .starts_with("Conversations and escalations per "),
        "{switched}"
    );
    assert_eq!(switched[5], json!("Last 24 h"), "{switched}");
    assert_words_in(&b, "en", ADMIN_DATA).await;
    b.js("document.activeElement.blur(); return null;").await;
    b.screenshot("admin-en").await;

    // The choice outlives a reload.
    reload(&b, &loaded("Updated")).await;
    assert_eq!(text(&b, "#h-gaps [data-i18n]").await, "Knowledge gaps");
    assert_eq!(
        b.js("return [document.documentElement.lang, localStorage.getItem('baton.lang')];")
            .await,
        json!(["en", "en"])
    );
    assert_words_in(&b, "en", ADMIN_DATA).await;

    // And back to Chinese.
    switch(&b, "#app", "zh").await;
    assert_eq!(text(&b, "#h-gaps [data-i18n]").await, "知识缺口");
    assert!(
        text(&b, "#updated").await.starts_with("更新于"),
        "the time of the last load, in Chinese"
    );
    assert_words_in(&b, "zh", ADMIN_DATA).await;

    b.close().await;
    app.stop().await;
    drop(temp);
}

/// The console and the dashboard share the reader's choice: it is one origin's.
#[tokio::test]
async fn the_choice_on_one_page_holds_on_the_other() {
    let app = spawn_app().await;
    let b = browser(1000, 700).await;
    b.client.goto(&app.url("/console?lang=en")).await.unwrap();
    b.until(
        "the sign-in form",
        "!document.getElementById('signin').hidden",
    )
    .await;
    switch(&b, "#signin", "zh").await;
    b.client.goto(&app.url("/admin")).await.unwrap();
    b.until(
        "the sign-in form",
        "!document.getElementById('signin').hidden",
    )
    .await;
    let seen: Value = b
        .js("return [document.documentElement.lang, document.querySelector('#signin h1').textContent];")
        .await;
    assert_eq!(seen, json!(["zh-CN", "Baton 客服数据看板"]));
    b.close().await;
    app.stop().await;
}
