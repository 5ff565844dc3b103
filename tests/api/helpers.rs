//! Spawning the real server for a test: the same `Application::build` + `run_until` as
//! `baton serve`, on port 0, with its own data directory, the repository's `kb/` and
//! `intents/`, and a model cache shared by all tests (so the classifier trains once).

use std::path::{Path, PathBuf};

use baton::config::Config;
use baton::server::Application;
use baton::service::ConversationService;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub service: ConversationService,
    pub data_dir: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
    // Dropped last: removes the data directory when the test ends.
    _temp: Option<tempfile::TempDir>,
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn test_config(data_dir: &Path) -> Config {
    let mut config = Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.to_path_buf(),
        kb: repo().join("kb"),
        intents: repo().join("intents"),
        models: repo().join("models"),
        ..Config::default()
    };
    config.nlu.cache_dir = Some(repo().join("target").join("test-model-cache"));
    // Tests do not need fsync per commit; durability across a clean restart is unaffected.
    config.store.synchronous = baton::config::Synchronous::Normal;
    config
}

/// A server with a fresh data directory.
pub async fn spawn_app() -> TestApp {
    let temp = tempfile::tempdir().expect("temp dir");
    let mut app = spawn_app_with(test_config(temp.path())).await;
    app._temp = Some(temp);
    app
}

pub async fn spawn_app_with(config: Config) -> TestApp {
    let data_dir = config.data_dir.clone();
    let app = Application::build(config)
        .await
        .expect("application starts");
    let base = format!("http://{}", app.local_addr());
    let service = app.service().clone();
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    TestApp {
        base,
        client: reqwest::Client::new(),
        service,
        data_dir,
        shutdown: Some(tx),
        handle: Some(handle),
        _temp: None,
    }
}

impl TestApp {
    /// Stops the server and waits until it has closed the database; keeps the data dir.
    pub async fn stop(mut self) -> Option<tempfile::TempDir> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.expect("server task").expect("server ran");
        }
        self._temp.take()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Creates a conversation; returns (id, token).
    pub async fn create(&self, body: Value) -> (String, String) {
        let r = self
            .client
            .post(self.url("/v1/conversations"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "create: {}", r.text().await.unwrap());
        let v: Value = r.json().await.unwrap();
        (
            v["conversation_id"].as_str().unwrap().into(),
            v["token"].as_str().unwrap().into(),
        )
    }

    pub async fn send_raw(
        &self,
        id: &str,
        token: &str,
        text: &str,
        client_msg_id: &str,
    ) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/v1/conversations/{id}/messages")))
            .bearer_auth(token)
            .json(&json!({ "text": text, "client_msg_id": client_msg_id }))
            .send()
            .await
            .unwrap()
    }

    /// Sends a message and returns the JSON outcome (asserting success).
    pub async fn say(&self, id: &str, token: &str, text: &str) -> Value {
        let cmid = uuid::Uuid::new_v4().to_string();
        let r = self.send_raw(id, token, text, &cmid).await;
        let status = r.status();
        let body = r.text().await.unwrap();
        assert!(status.is_success(), "{status}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    pub async fn messages(&self, id: &str, token: &str, after: i64) -> Value {
        let r = self
            .client
            .get(self.url(&format!("/v1/conversations/{id}/messages?after={after}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }
}

/// The FAQ id the first reply answered with, if any.
pub fn answered_faq(outcome: &Value) -> Option<String> {
    outcome["replies"]
        .as_array()?
        .iter()
        .find_map(|r| r["meta"]["faq_id"].as_str().map(String::from))
}
