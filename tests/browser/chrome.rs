//! Driving Chromium: a chromedriver per test, a headless browser session, helpers to reach
//! into the widget's shadow root, wait for a condition and save screenshots.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A headless Chromium session; the driver process dies with it.
pub struct Browser {
    pub client: Client,
    driver: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts chromedriver and a browser with a window of `width` × `height`; below 500 pixels
/// wide it emulates a phone (desktop windows cannot be that narrow).
pub async fn browser(width: u32, height: u32) -> Browser {
    for tool in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            std::path::Path::new(tool).exists(),
            "{tool} is missing: the browser tests need Debian's chromium and chromium-driver \
             (`.ci/deps.sh` installs them)"
        );
    }
    let port = free_port();
    let driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let caps = json!({
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--lang=zh-CN", format!("--window-size={width},{height}"),
            ],
        }
    });
    let mut caps = caps;
    if width < 500 {
        caps["goog:chromeOptions"]["mobileEmulation"] = json!({
            "deviceMetrics": {"width": width, "height": height, "pixelRatio": 3.0, "touch": true},
        });
    }
    let Value::Object(caps) = caps else {
        unreachable!()
    };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        match ClientBuilder::new(connector.clone())
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(client) => return Browser { client, driver },
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    panic!("cannot start a Chromium session through chromedriver");
}

impl Browser {
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }

    /// An element inside the widget's shadow root.
    pub async fn widget(&self, css: &str) -> Element {
        let host = self
            .client
            .wait()
            .for_element(Locator::Css("#baton-chat"))
            .await
            .expect("the widget is on the page");
        let root = host
            .shadow_root()
            .await
            .expect("the widget has a shadow root");
        root.find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} in the widget: {e}"))
    }

    /// Every element inside the widget's shadow root that `css` matches.
    pub async fn widget_all(&self, css: &str) -> Vec<Element> {
        let host = self
            .client
            .wait()
            .for_element(Locator::Css("#baton-chat"))
            .await
            .expect("the widget is on the page");
        let root = host
            .shadow_root()
            .await
            .expect("the widget has a shadow root");
        root.find_all(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} in the widget: {e}"))
    }

    /// Clicks the page element `locator` finds.
    pub async fn click(&self, locator: Locator<'_>) {
        self.client
            .find(locator)
            .await
            .unwrap_or_else(|e| panic!("{locator:?} on the page: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {locator:?}: {e}"));
    }

    /// Types `text` into the page element `locator` finds.
    pub async fn type_in(&self, locator: Locator<'_>, text: &str) {
        self.client
            .find(locator)
            .await
            .unwrap_or_else(|e| panic!("{locator:?} on the page: {e}"))
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("typing into {locator:?}: {e}"));
    }

    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Polls a JavaScript expression until it is truthy (10 s at most).
    pub async fn until(&self, what: &str, expression: &str) -> Value {
        let script = format!("return ({expression});");
        let mut last = Value::Null;
        for _ in 0..100 {
            last = self.js(&script).await;
            let truthy = match &last {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("timed out waiting until {what} (last value {last})");
    }

    /// Saves a screenshot as `target/screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join("screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot written");
    }
}

/// JavaScript that evaluates to the widget's shadow root.
pub const ROOT: &str = "document.querySelector('#baton-chat').shadowRoot";
