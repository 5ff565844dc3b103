//! The pages Baton serves itself: the widget script, the console and the demo shop, with a
//! strict Content-Security-Policy on the HTML and compression for the script.

use crate::helpers::spawn_app;

#[tokio::test]
async fn pages_are_served_with_a_strict_policy_and_the_widget_compressed() {
    let app = spawn_app().await;
    for path in ["/demo", "/demo?lang=en", "/console"] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe"), "nothing inline is allowed: {csp}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let html = r.text().await.unwrap();
        assert!(
            !html.contains("<script>") && !html.contains(" style="),
            "no inline script or style in {path}"
        );
    }
    let r = app
        .client
        .get(app.url("/widget.js"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let gzipped = r.bytes().await.unwrap().len();
    assert!(
        gzipped < 16 * 1024,
        "the widget stays small: {gzipped} bytes gzipped"
    );
    for path in ["/console.js", "/console.css", "/demo.css"] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    }
    app.stop().await;
}
