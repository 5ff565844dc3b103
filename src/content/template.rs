//! Templates in the shop's files (`intents/actions/`, task replies): call paths, queries, headers and bodies, and the replies
//! of order tasks ("您的订单 {{ number }} {{ status_label }}"). One sandboxed minijinja
//! environment renders them all: a template sees only the values it is given (no files, and
//! the environment only through the `env` a header is given), and a missing value renders
//! empty instead of failing a shopper's turn.

use std::sync::LazyLock;

use minijinja::Environment;

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // Replies are plain text shown with textContent; nothing here is HTML.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_keep_trailing_newline(false);
    env
});

/// Whether `template` compiles; the error says what is wrong.
pub fn check(template: &str) -> Result<(), String> {
    TEMPLATES
        .template_from_str(template)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Renders `template` with `values` (a JSON object).
pub fn render(template: &str, values: &serde_json::Value) -> Result<String, String> {
    TEMPLATES
        .render_str(template, values)
        .map_err(|e| e.to_string())
}

/// Whether `condition` (a template expression such as `status in ['paid']`) compiles.
pub fn check_condition(condition: &str) -> Result<(), String> {
    TEMPLATES
        .compile_expression(condition)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Evaluates `condition` over `values`; an error counts as false (the write is not allowed).
pub fn holds(condition: &str, values: &serde_json::Value) -> bool {
    TEMPLATES
        .compile_expression(condition)
        .and_then(|e| e.eval(values))
        .is_ok_and(|v| v.is_true())
}

/// The secrets a header template may read: environment variables named `BATON_SHOP_…`. Other
/// variables (the admin token, the identity secret) are never visible to a template.
pub fn shop_env() -> serde_json::Value {
    serde_json::Value::Object(
        std::env::vars()
            .filter(|(k, _)| k.starts_with("BATON_SHOP_"))
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_values_render_empty_and_loops_work() {
        let v = json!({"number": "MM1", "events": [{"time": "t1", "text": "a"}, {"time": "t2", "text": "b"}]});
        assert_eq!(
            render("{{ number }}/{{ nothing }}", &v).as_deref(),
            Ok("MM1/")
        );
        assert_eq!(
            render("{% for e in events %}{{ e.text }};{% endfor %}", &v).as_deref(),
            Ok("a;b;")
        );
        assert_eq!(
            render("<b>{{ number }}</b>", &v).as_deref(),
            Ok("<b>MM1</b>")
        );
        assert!(check("{{ unclosed").is_err());
        assert!(check("{% for %}").is_err());
        assert!(holds(
            "status in ['paid', 'unpaid']",
            &json!({"status": "paid"})
        ));
        assert!(!holds("status in ['paid']", &json!({"status": "shipped"})));
        assert!(!holds("status in ['paid']", &json!({})));
        assert!(check_condition("status in [").is_err());
    }

    #[test]
    fn only_shop_variables_reach_templates() {
        let env = shop_env();
        assert!(
            env.as_object()
                .is_some_and(|m| m.keys().all(|k| k.starts_with("BATON_SHOP_")))
        );
    }
}
