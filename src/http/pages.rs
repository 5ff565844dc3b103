//! The pages people see, served from the binary itself (compiled in, no files to deploy):
//! the chat widget script a shop embeds (`/widget.js`), the agent console (`/console`), the
//! support lead's dashboard (`/admin`) and a demo shop page embedding the widget (`/demo`).
//!
//! The console and the dashboard speak Chinese or English, as their reader chooses: their words
//! are in `/i18n.js`, which both load before their own script.
//!
//! HTML pages carry a strict Content-Security-Policy: scripts, styles and connections from
//! Baton's own origin only, nothing inline, no framing. The widget styles its shadow root
//! through a constructed stylesheet, which such a policy allows.

use axum::extract::Query;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

const WIDGET_JS: &str = include_str!("assets/widget.js");
const CONSOLE_HTML: &str = include_str!("assets/console.html");
const CONSOLE_JS: &str = include_str!("assets/console.js");
const CONSOLE_CSS: &str = include_str!("assets/console.css");
const ADMIN_HTML: &str = include_str!("assets/admin.html");
const ADMIN_JS: &str = include_str!("assets/admin.js");
const ADMIN_CSS: &str = include_str!("assets/admin.css");
const DEMO_HTML: &str = include_str!("assets/demo.html");
const DEMO_CSS: &str = include_str!("assets/demo.css");
const I18N_JS: &str = include_str!("assets/i18n.js");

/// The policy of every HTML page Baton serves.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self' data:; font-src 'self'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn asset(body: &'static str, content_type: &'static str, max_age: u32) -> Response {
    let mut r = body.into_response();
    let headers = r.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        headers.insert(header::CACHE_CONTROL, v);
    }
    r
}

fn page(body: String) -> Response {
    let mut r = body.into_response();
    let headers = r.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// `GET /widget.js`
pub async fn widget() -> Response {
    asset(WIDGET_JS, "text/javascript; charset=utf-8", 300)
}

/// `GET /console`
pub async fn console() -> Response {
    page(CONSOLE_HTML.to_string())
}

pub async fn console_js() -> Response {
    asset(CONSOLE_JS, "text/javascript; charset=utf-8", 300)
}

pub async fn console_css() -> Response {
    asset(CONSOLE_CSS, "text/css; charset=utf-8", 300)
}

/// `GET /admin`: statistics, knowledge gaps and FAQ drafts, read through the admin API with
/// the token the lead types in (the page itself holds no data).
pub async fn admin() -> Response {
    page(ADMIN_HTML.to_string())
}

pub async fn admin_js() -> Response {
    asset(ADMIN_JS, "text/javascript; charset=utf-8", 300)
}

pub async fn admin_css() -> Response {
    asset(ADMIN_CSS, "text/css; charset=utf-8", 300)
}

/// `GET /i18n.js`: the words of the console and the dashboard, in both languages.
pub async fn i18n_js() -> Response {
    asset(I18N_JS, "text/javascript; charset=utf-8", 300)
}

pub async fn demo_css() -> Response {
    asset(DEMO_CSS, "text/css; charset=utf-8", 300)
}

#[derive(Debug, Deserialize)]
pub struct DemoQuery {
    #[serde(default)]
    lang: Option<String>,
}

/// `GET /demo?lang=zh|en`: a sample shop page with the widget, in either language.
pub async fn demo(Query(q): Query<DemoQuery>) -> Response {
    let en = q.lang.as_deref().is_some_and(|l| l.starts_with("en"));
    let words: &[(&str, &str)] = if en {
        &[
            ("lang", "en"),
            ("title", "Demo Shop"),
            ("brand", "Demo Shop"),
            ("console", "Agent console"),
            ("headline", "Singles' Day deals"),
            (
                "tagline",
                "Questions about orders, delivery, returns or invoices? Ask us in the chat.",
            ),
            ("products", "Products"),
            ("p1", "Wireless earbuds"),
            ("p2", "Espresso machine"),
            ("p3", "Cotton T-shirt"),
            ("p4", "Running shoes"),
            (
                "hint",
                "This page is Baton's demo: the chat button at the bottom right is the widget a shop embeds with one script tag.",
            ),
            ("chat_title", "Demo Shop · Help"),
        ]
    } else {
        &[
            ("lang", "zh-CN"),
            ("title", "示例商城"),
            ("brand", "示例商城"),
            ("console", "客服工作台"),
            ("headline", "双十一大促"),
            (
                "tagline",
                "订单、物流、退换货、发票有疑问？点右下角在线咨询。",
            ),
            ("products", "商品"),
            ("p1", "无线蓝牙耳机"),
            ("p2", "意式咖啡机"),
            ("p3", "纯棉T恤"),
            ("p4", "跑步鞋"),
            (
                "hint",
                "这是 Baton 的演示页：右下角的聊天按钮就是商家用一行 script 标签嵌入的客服组件。",
            ),
            ("chat_title", "示例商城 · 在线客服"),
        ]
    };
    let mut html = DEMO_HTML.to_string();
    for (key, value) in words {
        html = html.replace(&format!("{{{{{key}}}}}"), value);
    }
    page(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_page_fills_every_placeholder() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for lang in [None, Some("en".to_string())] {
            let r = rt.block_on(demo(Query(DemoQuery { lang })));
            let body = rt
                .block_on(axum::body::to_bytes(r.into_body(), usize::MAX))
                .unwrap();
            let html = String::from_utf8(body.to_vec()).unwrap();
            assert!(!html.contains("{{"), "{html}");
            assert!(html.contains("/widget.js"));
        }
    }

    #[test]
    fn the_dashboard_has_nothing_inline_and_builds_no_markup_from_strings() {
        for html in [ADMIN_HTML, CONSOLE_HTML] {
            assert!(!html.contains("<script>") && !html.contains(" style="));
            assert!(!html.contains(" onclick=") && !html.contains(" onload="));
        }
        // Server data reaches the page as text nodes only.
        for js in [ADMIN_JS, I18N_JS] {
            assert!(!js.contains("innerHTML") && !js.contains("insertAdjacentHTML"));
        }
        assert!(!ADMIN_JS.contains("'style'") && !ADMIN_JS.contains(".style."));
    }

    /// Every word the console and the dashboard show is in i18n.js in Chinese and in English,
    /// with the same placeholders in both: a key their markup or scripts use without a message
    /// fails here, not in front of an agent. Keys nothing uses fail too, so the dictionary
    /// holds no dead words; the codes the server sends (`code('reason', …)`) count as used.
    #[test]
    fn every_key_the_pages_use_has_both_languages() {
        use std::collections::BTreeSet;

        use regex::Regex;
        use serde_json::Value;

        let (start, end) = ("/* messages */", "/* /messages */");
        let from = I18N_JS.find(start).expect("the start marker") + start.len();
        let to = I18N_JS.find(end).expect("the end marker");
        let source = &I18N_JS[from..to];
        let messages: serde_json::Map<String, Value> =
            serde_json::from_str(source).expect("the messages are strict JSON");
        let entries = Regex::new(r#"(?m)^\s*"[^"]+":"#).unwrap();
        assert_eq!(
            entries.find_iter(source).count(),
            messages.len(),
            "a key is there twice"
        );

        let placeholder = Regex::new(r"\{(\w+)\}").unwrap();
        let names = |text: &str| -> BTreeSet<String> {
            placeholder
                .captures_iter(text)
                .map(|c| c[1].to_string())
                .collect()
        };
        // A message is a text, or a singular and a plural.
        let forms = |key: &str, value: Option<&Value>| -> Vec<String> {
            let forms: Vec<String> = match value {
                Some(Value::String(s)) => vec![s.clone()],
                Some(Value::Array(pair)) if pair.len() == 2 => pair
                    .iter()
                    .map(|v| v.as_str().unwrap_or_default().to_string())
                    .collect(),
                other => panic!("{key}: {other:?} is neither a text nor a pair"),
            };
            assert!(forms.iter().all(|f| !f.is_empty()), "{key}: an empty text");
            forms
        };
        for (key, entry) in &messages {
            let entry = entry
                .as_object()
                .unwrap_or_else(|| panic!("{key}: not an object"));
            let langs: BTreeSet<&str> = entry.keys().map(String::as_str).collect();
            assert_eq!(langs, BTreeSet::from(["en", "zh"]), "{key}");
            let zh = forms(key, entry.get("zh"));
            let expected = names(&zh[0]);
            for text in zh.iter().chain(&forms(key, entry.get("en"))) {
                assert_eq!(
                    names(text),
                    expected,
                    "{key}: {text:?} has other placeholders"
                );
            }
        }

        let namespaces: BTreeSet<&str> = messages
            .keys()
            .filter_map(|k| k.split('.').next())
            .collect();
        let attribute =
            Regex::new(r#"data-i18n(?:-placeholder|-title|-aria-label)?="([^"]*)""#).unwrap();
        let literal = Regex::new(r"'([a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+)'").unwrap();
        let kind = Regex::new(r"code\('([a-z_]+)'").unwrap();
        let mut used = BTreeSet::new();
        let mut kinds = BTreeSet::new();
        for html in [CONSOLE_HTML, ADMIN_HTML] {
            used.extend(attribute.captures_iter(html).map(|c| c[1].to_string()));
        }
        for js in [CONSOLE_JS, ADMIN_JS] {
            used.extend(
                literal
                    .captures_iter(js)
                    .map(|c| c[1].to_string())
                    .filter(|k| k.split('.').next().is_some_and(|n| namespaces.contains(n))),
            );
            kinds.extend(kind.captures_iter(js).map(|c| c[1].to_string()));
        }
        let missing: Vec<&String> = used.iter().filter(|k| !messages.contains_key(*k)).collect();
        assert!(missing.is_empty(), "used but not in i18n.js: {missing:?}");
        let unused: Vec<&String> = messages
            .keys()
            .filter(|k| !used.contains(*k))
            .filter(|k| k.split('.').next().is_none_or(|n| !kinds.contains(n)))
            .collect();
        assert!(unused.is_empty(), "in i18n.js but used nowhere: {unused:?}");

        // A slot in the markup stands for a placeholder of its parent's message.
        let slot =
            Regex::new(r#"data-i18n="([^"]+)">[^<]*<[a-z]+ data-i18n-slot="(\w+)""#).unwrap();
        for html in [CONSOLE_HTML, ADMIN_HTML] {
            for c in slot.captures_iter(html) {
                let entry = &messages[&c[1]];
                for lang in ["zh", "en"] {
                    let text = entry[lang].as_str().unwrap_or_default();
                    assert!(
                        text.contains(&format!("{{{}}}", &c[2])),
                        "{}: {text:?}",
                        &c[1]
                    );
                }
            }
        }
    }
}
