//! Starting and stopping Baton: [`Application::build`] turns a [`Config`] into a bound,
//! ready server (knowledge loaded, database migrated); [`Application::run_until`] serves
//! until the given shutdown future completes, then drains requests and closes the database.
//! Tests call exactly this with port 0 and a temporary data directory.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::config::Config;
use crate::http::{AppState, router};
use crate::knowledge::{Knowledge, KnowledgeError};
use crate::service::ConversationService;
use crate::store::{SqliteStore, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Knowledge(#[from] KnowledgeError),
    #[error("cannot load the sentence encoder: {0}")]
    Encoder(#[from] crate::encoder::EncoderError),
    #[error("cannot open the database: {0}")]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("start-up task failed: {0}")]
    Task(String),
}

/// A server that is ready to run.
pub struct Application {
    listener: TcpListener,
    service: ConversationService,
    store: SqliteStore,
}

impl Application {
    pub async fn build(config: Config) -> Result<Application, StartError> {
        let config = Arc::new(config);
        let started = std::time::Instant::now();
        // Training and indexing are CPU work; the runtime stays free meanwhile.
        let knowledge = {
            let config = config.clone();
            tokio::task::spawn_blocking(move || {
                crate::kb::analyzer::warm_up();
                let encoder = crate::encoder::Encoder::from_config(&config)?;
                Knowledge::load(&config, encoder).map_err(StartError::from)
            })
            .await
            .map_err(|e| StartError::Task(e.to_string()))??
        };
        for w in &knowledge.warnings {
            tracing::warn!("{w}");
        }
        tracing::info!(
            version = %knowledge.version,
            faqs = knowledge.index.len(),
            intents = knowledge.content.intents.len(),
            classifier = ?knowledge.classifier.provenance,
            encoder = knowledge.encoder.as_ref().map(|e| e.model.name()).unwrap_or("none"),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "knowledge loaded"
        );
        let store = SqliteStore::open(&config.sqlite_path(), &config.store).await?;
        let listener = TcpListener::bind(config.addr)
            .await
            .map_err(|source| StartError::Bind {
                addr: config.addr,
                source,
            })?;
        let service =
            ConversationService::new(Arc::new(store.clone()), Arc::new(knowledge), config);
        Ok(Application {
            listener,
            service,
            store,
        })
    }

    /// The address actually bound (the port is chosen by the OS for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has a local address")
    }

    pub fn service(&self) -> &ConversationService {
        &self.service
    }

    /// Serves until `shutdown` completes; in-flight requests finish first.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let addr = self.local_addr();
        tracing::info!(%addr, "Baton is listening");
        let app = router(AppState {
            service: self.service.clone(),
        });
        axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await?;
        self.store.close().await;
        tracing::info!("Baton stopped");
        Ok(())
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
