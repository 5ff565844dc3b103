//! Starting and stopping Baton: [`Application::build`] turns a [`Config`] into a bound,
//! ready server (knowledge loaded, database migrated, agents loaded); [`Application::run_until`]
//! serves and runs the dispatcher (and, with `retention.days`, the retention task) until the
//! given shutdown future completes, then drains requests, closes every WebSocket (axum's
//! graceful shutdown does not wait for upgraded connections, so they are tracked here), stops
//! the background tasks and closes the database.
//! Tests call exactly this with port 0, a temporary data directory and a manual clock.
//!
//! Connections are served here with hyper directly rather than `axum::serve`, because that
//! is what exposes the limits a public edge needs (`[http]` in the configuration): a client
//! must send its request head within `header_read_timeout_ms` (silent, slow-header and idle
//! keep-alive connections would otherwise each hold a file descriptor forever), a connection
//! stuck without a byte moving for `idle_timeout_ms` is dropped, and heads larger than twice
//! `max_header_bytes` are refused before they are buffered (the router answers the ones in
//! between with a JSON 431). When accepting fails for want of descriptors or memory, the
//! loop backs off instead of spinning on the error.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;

use crate::clock::Clock;
use crate::config::{Config, HttpConfig};
use crate::desk::Desk;
use crate::http::{AppState, router};
use crate::knowledge::reload::{Reloader, fingerprint_dirs};
use crate::knowledge::{Knowledge, KnowledgeError, LiveKnowledge};
use crate::service::{ConversationService, Wiring};
use crate::store::{self, Store, StoreError};

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
    #[error("the shop connection is misconfigured: {0}")]
    Shop(#[from] crate::shop::ShopError),
}

/// The client of the shop's order API: the configured one, or the demo shop this server
/// serves itself under `/demo/api` (on loopback, so private addresses are allowed for it).
pub fn shop_client(
    config: &Config,
    bound: SocketAddr,
) -> Result<Option<Arc<crate::shop::ShopClient>>, crate::shop::ShopError> {
    if !config.shop.enabled {
        return Ok(None);
    }
    let client = match &config.shop.base_url {
        Some(base) => crate::shop::ShopClient::new(&config.shop, base, config.shop.allow_private)?,
        None => {
            let ip = match bound.ip() {
                ip if ip.is_unspecified() => std::net::IpAddr::from([127, 0, 0, 1]),
                ip => ip,
            };
            let base = format!("http://{}/demo/api", SocketAddr::new(ip, bound.port()));
            crate::shop::ShopClient::new(&config.shop, &base, true)?
        }
    };
    tracing::info!(base = client.base_url(), "shop order API");
    Ok(Some(Arc::new(client)))
}

/// A server that is ready to run.
pub struct Application {
    listener: TcpListener,
    service: ConversationService,
    desk: Desk,
    store: Arc<dyn Store>,
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
        let store = store::open(&config).await?;
        let listener = TcpListener::bind(config.addr)
            .await
            .map_err(|source| StartError::Bind {
                addr: config.addr,
                source,
            })?;
        let bound = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.addr,
            source,
        })?;
        let mut wiring = Wiring::new(&config, clock);
        wiring.shop = shop_client(&config, bound)?;
        if let Some(url) = &config.database_url {
            let cluster = crate::cluster::Cluster::join(url, &config).await?;
            wiring.hub.set_relay(cluster.clone());
            wiring.cluster = Some(cluster);
        }
        let service = ConversationService::new(
            store.clone(),
            LiveKnowledge::new(Arc::new(knowledge)),
            config,
            wiring,
        );
        let desk = Desk::new(service.clone());
        desk.refresh_agents().await?;
        // A blocked shopper is refused from the first request, not after the first refresh.
        service.refresh_blocklist().await?;
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
        let wiring = self.service.wiring();
        let cluster = wiring.cluster.clone().map(|c| {
            tokio::spawn(c.run(wiring.hub.clone(), wiring.poke.clone(), stop.child_token()))
        });
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
        let state = AppState::new(
            self.service.clone(),
            self.desk.clone(),
            reloader,
            sockets.clone(),
            stop.clone(),
        );
        // Rate limiters keep a little state per address and conversation; this sheds it.
        let pruner = tokio::spawn(state.limits.clone().run_pruning(stop.child_token()));
        let blocklist = tokio::spawn(service.clone().keep_blocklist_fresh(stop.child_token()));
        let app = router(state);
        let stop_on_shutdown = stop.clone();
        let limits = ConnLimits::from(&self.service.config().http);
        serve(self.listener, app, limits, async move {
            shutdown.await;
            // Sockets see this and close with "going away"; clients reconnect elsewhere.
            stop_on_shutdown.cancel();
        })
        .await;
        stop.cancel();
        sockets.close();
        sockets.wait().await;
        if let Err(e) = dispatcher.await {
            tracing::error!(error = %e, "dispatcher task failed");
        }
        if let Some(c) = cluster
            && let Err(e) = c.await
        {
            tracing::error!(error = %e, "cluster link failed");
        }
        if let Err(e) = pruner.await {
            tracing::error!(error = %e, "rate limit pruning failed");
        }
        if let Err(e) = blocklist.await {
            tracing::error!(error = %e, "blacklist refresh failed");
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

/// What each connection is held to, from `[http]`.
#[derive(Debug, Clone, Copy)]
struct ConnLimits {
    header_read: Duration,
    idle: Duration,
    /// Request heads above this are refused by hyper, unparsed.
    max_head: usize,
}

impl From<&HttpConfig> for ConnLimits {
    fn from(http: &HttpConfig) -> Self {
        ConnLimits {
            header_read: Duration::from_millis(http.header_read_timeout_ms),
            idle: Duration::from_millis(http.idle_timeout_ms),
            max_head: http.max_header_bytes.saturating_mul(2),
        }
    }
}

/// First and longest pause after a failed accept.
const ACCEPT_BACKOFF: (Duration, Duration) = (Duration::from_millis(10), Duration::from_secs(1));

/// Accepts and serves connections until `shutdown` completes, then lets every connection
/// finish its request in flight and close (upgraded WebSockets are the caller's to close).
async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let connections = TaskTracker::new();
    let closing = CancellationToken::new();
    let mut shutdown = pin!(shutdown);
    let mut backoff = ACCEPT_BACKOFF.0;
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, remote)) => {
                backoff = ACCEPT_BACKOFF.0;
                connections.spawn(serve_connection(
                    stream,
                    remote,
                    app.clone(),
                    limits,
                    closing.clone(),
                ));
            }
            // The peer gave up between connecting and being accepted: nothing to wait for.
            Err(e) if is_peer_error(&e) => {}
            // Out of descriptors (EMFILE/ENFILE) or memory: retrying at once fails the same
            // way and burns a core. Pause, doubling up to a second, so that closing
            // connections can free what is missing.
            Err(e) => {
                tracing::error!(error = %e, retry_in_ms = backoff.as_millis() as u64, "cannot accept connections");
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(ACCEPT_BACKOFF.1);
            }
        }
    }
    drop(listener);
    closing.cancel();
    connections.close();
    connections.wait().await;
}

fn is_peer_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// One HTTP/1.1 connection, with upgrades (WebSockets), under `limits`.
async fn serve_connection(
    stream: TcpStream,
    remote: SocketAddr,
    app: Router,
    limits: ConnLimits,
    closing: CancellationToken,
) {
    // Replies are small and interactive; do not wait to fill a segment.
    let _ = stream.set_nodelay(true);
    let io = TokioIo::new(IdleTimeout::new(stream, limits.idle));
    let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
        // What `into_make_service_with_connect_info` provided: handlers and layers may
        // extract `ConnectInfo<SocketAddr>`.
        req.extensions_mut().insert(ConnectInfo(remote));
        app.clone().oneshot(req.map(axum::body::Body::new))
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        .max_header_size(limits.max_head);
    let mut conn = pin!(builder.serve_connection(io, service).with_upgrades());
    let result = tokio::select! {
        result = conn.as_mut() => result,
        _ = closing.cancelled() => {
            // Finishes the request in flight, if any, then closes.
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        // Timeouts, resets and malformed requests are the client's business, not an error.
        tracing::debug!(%remote, error = %e, "connection ended");
    }
}

/// A connection that fails once one of its reads or writes has waited `limit` with no byte
/// moving either way. A WebSocket's pings keep an idle but live socket moving.
struct IdleTimeout<T> {
    inner: T,
    limit: Duration,
    timer: Pin<Box<Sleep>>,
    /// Whether `timer` counts down a wait that began since the last progress.
    armed: bool,
}

impl<T> IdleTimeout<T> {
    fn new(inner: T, limit: Duration) -> IdleTimeout<T> {
        IdleTimeout {
            inner,
            limit,
            timer: Box::pin(tokio::time::sleep(limit)),
            armed: false,
        }
    }

    /// Called when the inner stream made progress (or failed): the next wait starts afresh.
    fn progressed<R>(&mut self, ready: R) -> Poll<R> {
        self.armed = false;
        Poll::Ready(ready)
    }

    /// Called when the inner stream is waiting: fails the operation once the wait is over.
    fn waiting<R>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        if !self.armed {
            self.timer.as_mut().reset(Instant::now() + self.limit);
            self.armed = true;
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no data moved on the connection for too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleTimeout<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => this.progressed(r),
            Poll::Pending => this.waiting(cx),
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleTimeout<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(r) => this.progressed(r),
            Poll::Pending => this.waiting(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => this.progressed(r),
            Poll::Pending => this.waiting(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Ready(r) => this.progressed(r),
            Poll::Pending => this.waiting(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_shutdown(cx) {
            Poll::Ready(r) => this.progressed(r),
            Poll::Pending => this.waiting(cx),
        }
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
