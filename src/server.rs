//! Starting and stopping Baton: [`Application::build`] turns a [`Config`] into a bound,
//! ready server (knowledge loaded, database migrated, agents loaded); [`Application::run_until`]
//! serves and runs the dispatcher (and, with `retention.days`, the retention task) until the
//! given shutdown future completes, then drains requests, closes every WebSocket (axum's
//! graceful shutdown does not wait for upgraded connections, so they are tracked here), stops
//! the background tasks and closes the database.
//! Tests call exactly this with port 0, a temporary data directory and a manual clock.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::Clock;
use crate::config::Config;
use crate::desk::Desk;
use crate::http::{AppState, router};
use crate::knowledge::reload::{Reloader, fingerprint_dirs};
use crate::knowledge::{Knowledge, KnowledgeError, LiveKnowledge};
use crate::service::{ConversationService, Wiring};
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
    #[error("cannot load agents: {0}")]
    Agents(#[from] crate::service::ServiceError),
}

/// A server that is ready to run.
pub struct Application {
    listener: TcpListener,
    service: ConversationService,
    desk: Desk,
    store: SqliteStore,
    content_fingerprint: u64,
}

impl Application {
    pub async fn build(config: Config) -> Result<Application, StartError> {
        Self::build_with_clock(config, Clock::system()).await
    }

    /// As [`Application::build`], with the clock every rule reads (tests pass a manual one).
    pub async fn build_with_clock(config: Config, clock: Clock) -> Result<Application, StartError> {
        let config = Arc::new(config);
        let started = std::time::Instant::now();
        // Training and indexing are CPU work; the runtime stays free meanwhile.
        let (knowledge, content_fingerprint) = {
            let config = config.clone();
            tokio::task::spawn_blocking(move || {
                crate::kb::analyzer::warm_up();
                let encoder = crate::encoder::Encoder::from_config(&config)?;
                // Before reading, so the watcher sees any edit made while this loads.
                let seen = fingerprint_dirs(&[config.kb.clone(), config.intents.clone()]);
                let knowledge = Knowledge::load(&config, encoder).map_err(StartError::from)?;
                Ok::<_, StartError>((knowledge, seen))
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
        let wiring = Wiring::new(&config, clock);
        let service = ConversationService::new(
            Arc::new(store.clone()),
            LiveKnowledge::new(Arc::new(knowledge)),
            config,
            wiring,
        );
        let desk = Desk::new(service.clone());
        desk.refresh_agents().await?;
        Ok(Application {
            listener,
            service,
            desk,
            store,
            content_fingerprint,
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

    pub fn desk(&self) -> &Desk {
        &self.desk
    }

    /// Serves until `shutdown` completes; in-flight requests finish first.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let addr = self.local_addr();
        tracing::info!(%addr, "Baton is listening");
        let stop = CancellationToken::new();
        let sockets = TaskTracker::new();
        let dispatcher = tokio::spawn(self.desk.clone().run(stop.child_token()));
        let service = &self.service;
        let retention = service
            .config()
            .retention
            .days
            .is_some()
            .then(|| tokio::spawn(service.clone().run_retention(stop.child_token())));
        let reloader = Reloader::new(
            service.live_knowledge().clone(),
            service.store().clone(),
            service.clock().clone(),
            service.config_arc().clone(),
            self.content_fingerprint,
        );
        let watcher = self
            .service
            .config()
            .reload
            .watch
            .then(|| tokio::spawn(reloader.clone().watch(stop.child_token())));
        let app = router(AppState::new(
            self.service.clone(),
            self.desk.clone(),
            reloader,
            sockets.clone(),
            stop.clone(),
        ));
        let stop_on_shutdown = stop.clone();
        axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            // Sockets see this and close with "going away"; clients reconnect elsewhere.
            stop_on_shutdown.cancel();
        })
        .await?;
        stop.cancel();
        sockets.close();
        sockets.wait().await;
        if let Err(e) = dispatcher.await {
            tracing::error!(error = %e, "dispatcher task failed");
        }
        if let Some(w) = watcher
            && let Err(e) = w.await
        {
            tracing::error!(error = %e, "content watcher failed");
        }
        if let Some(r) = retention
            && let Err(e) = r.await
        {
            tracing::error!(error = %e, "retention task failed");
        }
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
