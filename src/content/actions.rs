//! The shop's calls, as its engineers declare them: `intents/actions/*.yaml`.
//!
//! ```text
//! actions/*.yaml ─► serde ─► preset (reference contract) + the file's own calls ─► checks
//!   (templates compile, JSON pointers, secrets only in headers, the order-number pattern)
//!   ─► ShopCalls, or diagnostics with file:line
//! ```
//!
//! A call is an HTTP request (method, path or URL, query, headers, JSON body — every string a
//! template over the task's values), how to read its answer (named fields at JSON pointers,
//! the fields that must be there, which field names the order's customer) and what the
//! shop's expected refusals mean (a 404 is "no such order for you", a 409 "not allowed any
//! more"). `preset: reference` brings every call of Baton's reference contract
//! (`reference_contract.yaml`), so a shop that implements the contract writes one line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::diagnostic::{Diagnostic, line_of, parse_yaml_file, unify_line_breaks};
use super::intent::Bilingual;

/// The calls of Baton's reference contract, in the format shops write.
pub const REFERENCE_CONTRACT: &str = include_str!("reference_contract.yaml");

/// Whether a call only reads or changes the shop's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallKind {
    Read,
    Write,
}

/// HTTP methods a call may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// What an expected refusal from the shop means to the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// No such order, or not this shopper's (the shop answers both alike).
    NotFound,
    /// The shop will not do it in the order's state (shipped, already cancelled …).
    NotAllowed,
}

/// One declared call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallDecl {
    pub kind: CallKind,
    pub method: Method,
    /// Relative to the configured base URL, or a whole `https://…` URL; a template.
    pub path: String,
    /// Query parameters (templates); one that renders empty is left out.
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// Headers (templates); the only place `{{ env.BATON_SHOP_… }}` secrets may appear.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// JSON body; its strings are templates, and one that renders empty becomes `null`.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
    /// Timeout of one try, in milliseconds (default `[shop] timeout_ms`).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Named fields of the answer, at JSON pointers (RFC 6901, `/order/status`).
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// Fields that must be in a successful answer; without one it is malformed.
    #[serde(default)]
    pub required: Vec<String>,
    /// The field holding the customer an answer is about: compared with the verified
    /// customer, so one shopper never sees another's order whatever the shop returns.
    #[serde(default)]
    pub owner_field: Option<String>,
    /// Expected refusals by HTTP status (`404: not_found`, `409: not_allowed`).
    #[serde(default)]
    pub refusals: BTreeMap<u16, Refusal>,
}

/// A display label for each value of a field (`status: shipped` → 已发货 / shipped).
pub type Labels = BTreeMap<String, BTreeMap<String, Bilingual<String>>>;

/// The shape of an actions file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionsFile {
    #[serde(default)]
    preset: Option<String>,
    #[serde(default)]
    order_number: Option<String>,
    /// Headers added to every call (a shared API key).
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    calls: BTreeMap<String, CallDecl>,
    #[serde(default)]
    labels: Labels,
}

/// Every call the bot may make, checked.
#[derive(Debug, Clone)]
pub struct ShopCalls {
    pub calls: BTreeMap<String, CallDecl>,
    /// Pattern of the shop's order numbers, anchored on word boundaries when matched.
    pub order_number: Regex,
    pub labels: Labels,
}

/// The default order-number pattern of the reference contract (and the demo shop).
pub const DEFAULT_ORDER_NUMBER: &str = r"MM\d{12}";

impl Default for ShopCalls {
    /// The reference contract: what a shop without an actions file gets.
    fn default() -> Self {
        parse_actions(Path::new("reference_contract.yaml"), "preset: reference\n")
            .expect("the reference contract shipped with Baton parses (a unit test checks it)")
    }
}

impl ShopCalls {
    pub fn get(&self, name: &str) -> Option<&CallDecl> {
        self.calls.get(name)
    }

    /// The display label of `value` of `field`, if one is declared.
    pub fn label(&self, field: &str, value: &str, lang: crate::nlu::Lang) -> Option<&str> {
        self.labels
            .get(field)?
            .get(value)
            .map(|b| b.get(lang).as_str())
    }

    /// The first order number in `text`.
    pub fn find_order_number<'t>(&self, text: &'t str) -> Option<&'t str> {
        self.order_number
            .find_iter(text)
            .find(|m| {
                let before = text[..m.start()].chars().next_back();
                let after = text[m.end()..].chars().next();
                !before.is_some_and(|c| c.is_ascii_alphanumeric())
                    && !after.is_some_and(|c| c.is_ascii_alphanumeric())
            })
            .map(|m| m.as_str())
    }
}

/// Reads every `*.yaml` under `dir` (the `intents/actions/` folder); no folder means the
/// reference contract. Files are merged in name order; a call declared twice is an error.
pub fn load_actions(
    files: &[(PathBuf, String)],
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<ShopCalls> {
    if files.is_empty() {
        return Some(ShopCalls::default());
    }
    let mut merged: Option<ShopCalls> = None;
    let mut ok = true;
    for (path, source) in files {
        match parse_actions(path, source) {
            Ok(calls) => match &mut merged {
                None => merged = Some(calls),
                Some(all) => {
                    for (name, call) in calls.calls {
                        if all.calls.contains_key(&name) {
                            diagnostics.push(Diagnostic::error(
                                path,
                                line_of(source, &format!("{name}:"), 1),
                                format!("call {name:?} is declared in another actions file too"),
                            ));
                            ok = false;
                        }
                        all.calls.insert(name, call);
                    }
                    all.labels.extend(calls.labels);
                }
            },
            Err(d) => {
                diagnostics.extend(d);
                ok = false;
            }
        }
    }
    if ok { merged } else { None }
}

/// Parses and checks one actions file.
pub fn parse_actions(path: &Path, source: &str) -> Result<ShopCalls, Vec<Diagnostic>> {
    let source = &*unify_line_breaks(source);
    let file: ActionsFile = parse_yaml_file(path, source)?;
    let at = |needle: &str| line_of(source, needle, 1);
    let mut errors = Vec::new();
    let (mut calls, mut labels) = match file.preset.as_deref() {
        None => (BTreeMap::new(), Labels::new()),
        Some("reference") => {
            let preset: ActionsFile = serde_norway::from_str(REFERENCE_CONTRACT).map_err(|e| {
                vec![Diagnostic::error(
                    path,
                    at("preset:"),
                    format!("the reference preset does not parse: {e}"),
                )]
            })?;
            (preset.calls, preset.labels)
        }
        Some(other) => {
            errors.push(Diagnostic::error(
                path,
                at("preset:"),
                format!("unknown preset {other:?} (the one preset is \"reference\")"),
            ));
            (BTreeMap::new(), Labels::new())
        }
    };
    calls.extend(file.calls);
    for (field, values) in file.labels {
        labels.entry(field).or_default().extend(values);
    }
    for call in calls.values_mut() {
        for (k, v) in &file.headers {
            call.headers.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let pattern = file.order_number.as_deref().unwrap_or(DEFAULT_ORDER_NUMBER);
    let order_number = match Regex::new(pattern) {
        Ok(r) if !r.is_match("") => Some(r),
        Ok(_) => {
            errors.push(Diagnostic::error(
                path,
                at("order_number:"),
                "order_number matches empty text: every message would hold an order number",
            ));
            None
        }
        Err(e) => {
            errors.push(Diagnostic::error(
                path,
                at("order_number:"),
                format!("order_number is not a valid regular expression: {e}"),
            ));
            None
        }
    };
    for (name, call) in &calls {
        let line = at(&format!("{name}:"));
        check_call(path, line, name, call, &mut errors);
    }
    match (errors.is_empty(), order_number) {
        (true, Some(order_number)) => Ok(ShopCalls {
            calls,
            order_number,
            labels,
        }),
        _ => Err(errors),
    }
}

fn check_call(
    path: &Path,
    line: Option<usize>,
    name: &str,
    call: &CallDecl,
    errors: &mut Vec<Diagnostic>,
) {
    let mut err = |message: String| errors.push(Diagnostic::error(path, line, message));
    if !super::faq::is_valid_id(name) {
        err(format!(
            "call name {name:?}: use lowercase letters, digits, '-' and '_'"
        ));
    }
    if !(call.path.starts_with('/') || call.path.starts_with("https://")) {
        err(format!(
            "call {name}: path must start with '/' (relative to the shop's base URL) or https://"
        ));
    }
    let mut templates: Vec<(&str, &str)> = vec![("path", &call.path)];
    templates.extend(call.query.values().map(|v| ("query", v.as_str())));
    let mut body_strings = Vec::new();
    if let Some(body) = &call.body {
        collect_strings(body, &mut body_strings);
    }
    templates.extend(body_strings.iter().map(|s| ("body", s.as_str())));
    for (place, t) in &templates {
        if t.contains("env.") {
            err(format!(
                "call {name}: secrets from the environment may only be used in headers, not in the {place}"
            ));
        }
    }
    templates.extend(call.headers.values().map(|v| ("headers", v.as_str())));
    for (place, t) in templates {
        if let Err(e) = crate::content::template::check(t) {
            err(format!("call {name}: {place} template {t:?}: {e}"));
        }
    }
    for (field, pointer) in &call.fields {
        if !(pointer.is_empty() || pointer.starts_with('/')) {
            err(format!(
                "call {name}: field {field}: {pointer:?} is not a JSON pointer (write /order/status)"
            ));
        }
    }
    for field in call.required.iter().chain(&call.owner_field) {
        if !call.fields.contains_key(field) {
            err(format!(
                "call {name}: {field:?} is not one of the call's fields"
            ));
        }
    }
    if call.kind == CallKind::Write && call.method == Method::Get {
        err(format!("call {name}: a write cannot be a GET"));
    }
}

fn collect_strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(source: &str) -> Result<ShopCalls, Vec<Diagnostic>> {
        parse_actions(Path::new("intents/actions/shop.yaml"), source)
    }

    #[test]
    fn the_reference_preset_declares_every_call_of_the_contract() {
        let calls = parse("preset: reference\n").expect("preset parses");
        for name in [
            "order",
            "recent_orders",
            "logistics",
            "refund",
            "cancel",
            "change_address",
            "stock",
        ] {
            assert!(calls.get(name).is_some(), "{name} missing");
        }
        assert_eq!(calls.get("cancel").map(|c| c.kind), Some(CallKind::Write));
        assert_eq!(
            calls.label("status", "shipped", crate::nlu::Lang::Zh),
            Some("已发货")
        );
    }

    #[test]
    fn order_numbers_are_found_on_word_boundaries_only() {
        let calls = ShopCalls::default();
        assert_eq!(
            calls.find_order_number("帮我查下订单MM202611110001到哪了"),
            Some("MM202611110001")
        );
        assert_eq!(calls.find_order_number("XMM2026111100012"), None);
        assert_eq!(calls.find_order_number("where is my order"), None);
    }

    #[test]
    fn a_file_can_override_a_call_and_add_a_shared_header() {
        let calls = parse(
            "preset: reference\norder_number: 'SO-\\d{6}'\nheaders:\n  Authorization: 'Bearer {{ env.BATON_SHOP_TOKEN }}'\ncalls:\n  stock:\n    kind: read\n    method: GET\n    path: /v2/stock/{{ sku }}\n    fields: {stock: /qty}\n",
        )
        .expect("parses");
        assert_eq!(
            calls.get("stock").map(|c| c.path.as_str()),
            Some("/v2/stock/{{ sku }}")
        );
        assert!(
            calls
                .get("order")
                .is_some_and(|c| c.headers.contains_key("Authorization"))
        );
        assert_eq!(calls.find_order_number("单号 SO-123456"), Some("SO-123456"));
    }

    #[test]
    fn mistakes_are_reported_with_their_line() {
        let errors = parse(
            "calls:\n  leak:\n    kind: read\n    method: GET\n    path: /x?k={{ env.BATON_ADMIN_TOKEN }}\n    fields: {a: order/status}\n    required: [b]\n  bad:\n    kind: write\n    method: GET\n    path: '{{ unclosed'\n",
        )
        .expect_err("invalid");
        let text: Vec<String> = errors.iter().map(|d| d.to_string()).collect();
        let all = text.join("\n");
        assert!(all.contains("only be used in headers"), "{all}");
        assert!(all.contains("not a JSON pointer"), "{all}");
        assert!(
            all.contains("\"b\" is not one of the call's fields"),
            "{all}"
        );
        assert!(all.contains("a write cannot be a GET"), "{all}");
        assert!(all.contains("template"), "{all}");
        assert!(errors.iter().any(|d| d.line == Some(2)), "{all}");
        assert!(errors.iter().any(|d| d.line == Some(8)), "{all}");
        let bad_pattern = parse("order_number: '('\n").expect_err("bad regex");
        assert_eq!(bad_pattern[0].line, Some(1));
        assert!(parse("preset: mine\n").is_err());
        assert!(parse("calls: [1, 2]\n").is_err());
    }
}
