//! Hot reload: editors' changes to `kb/` and `intents/` go live without a restart, and a
//! broken file never takes the bot down.
//!
//! ```text
//! watch (poll a fingerprint of both trees) ─► quiet for one more poll? ─► reload
//! POST /v1/admin/kb/reload ──────────────────────────────────────────────► reload
//! reload: read + validate + train (cached) + index, off the runtime ─► errors? keep serving
//!         the last good snapshot and report them : swap the new snapshot in atomically
//! ```
//!
//! The watcher fingerprints paths, sizes and modification times. It waits until the
//! fingerprint holds still for one poll interval, so an editor saving many files or a git
//! checkout replacing whole trees causes one reload, not a reload of a half-written tree.
//! Polling rather than file-system events also works on network and container volumes,
//! where change events are not delivered. Requests in flight finish on the snapshot they
//! started with ([`LiveKnowledge::swap`]); only one rebuild runs at a time.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use super::{Knowledge, KnowledgeError, LiveKnowledge};
use crate::clock::Clock;
use crate::config::Config;
use crate::content::Diagnostic;
use crate::handoff::AuditEntry;
use crate::store::Store;

/// The audit action of a knowledge reload; its detail has `ok: bool`.
pub const RELOAD_ACTION: &str = "kb.reload";

/// What `GET /v1/admin/kb/status` reports.
#[derive(Debug, Clone, Serialize)]
pub struct KbStatus {
    /// Content hash of the snapshot serving now.
    pub version: String,
    /// When it went live (Unix milliseconds).
    pub loaded_at: i64,
    pub faqs: usize,
    pub intents: usize,
    pub examples: usize,
    /// Whether the last attempt succeeded (its errors are below when it did not).
    pub ok: bool,
    pub last_attempt_at: Option<i64>,
    /// How long the last attempt took, from its start to the swap.
    pub last_duration_ms: Option<u64>,
    /// What started the last attempt: `watch`, `api` or `startup`.
    pub last_trigger: String,
    /// Errors of the last attempt, with file and line; the serving snapshot predates them.
    pub errors: Vec<Diagnostic>,
    /// Warnings of the serving snapshot.
    pub warnings: Vec<Diagnostic>,
    /// Successful reloads and failed attempts since start.
    pub reloads: u64,
    pub failures: u64,
    /// Whether the directories are watched (`reload.watch`).
    pub watching: bool,
}

/// Cheap-to-clone handle.
#[derive(Clone)]
pub struct Reloader {
    inner: Arc<Inner>,
}

struct Inner {
    live: LiveKnowledge,
    store: Arc<dyn Store>,
    clock: Clock,
    config: Arc<Config>,
    status: StdMutex<KbStatus>,
    /// One rebuild at a time.
    running: Mutex<()>,
    /// Fingerprint of the trees as the last load (or attempt) read them.
    loaded: AtomicU64,
}

impl Reloader {
    /// `loaded` is the fingerprint of the trees taken just before the serving knowledge was
    /// read ([`fingerprint_dirs`]), so an edit made while the server starts is not missed.
    pub fn new(
        live: LiveKnowledge,
        store: Arc<dyn Store>,
        clock: Clock,
        config: Arc<Config>,
        loaded: u64,
    ) -> Reloader {
        let k = live.current();
        let now = clock.now_ms();
        let status = KbStatus {
            version: k.version.clone(),
            loaded_at: now,
            faqs: k.index.len(),
            intents: k.content.intents.len(),
            examples: k.content.training_data().len(),
            ok: true,
            last_attempt_at: None,
            last_duration_ms: None,
            last_trigger: "startup".into(),
            errors: Vec::new(),
            warnings: k.warnings.clone(),
            reloads: 0,
            failures: 0,
            watching: config.reload.watch,
        };
        Reloader {
            inner: Arc::new(Inner {
                live,
                store,
                clock,
                config,
                status: StdMutex::new(status),
                running: Mutex::new(()),
                loaded: AtomicU64::new(loaded),
            }),
        }
    }

    pub fn status(&self) -> KbStatus {
        self.lock_status().clone()
    }

    fn lock_status(&self) -> std::sync::MutexGuard<'_, KbStatus> {
        self.inner
            .status
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Rebuilds from the directories now; swaps the result in when it has no errors.
    pub async fn reload(&self, trigger: &str) -> KbStatus {
        let _one = self.inner.running.lock().await;
        let inner = &self.inner;
        let started = Instant::now();
        let attempt_at = inner.clock.now_ms();
        let config = inner.config.clone();
        let encoder = inner.live.current().encoder.clone();
        let built = tokio::task::spawn_blocking(move || {
            // Taken before reading: an edit during the rebuild shows as a later change.
            let seen = fingerprint_dirs(&[config.kb.clone(), config.intents.clone()]);
            (seen, Knowledge::load(&config, encoder))
        })
        .await
        .map(|(seen, built)| {
            self.inner.loaded.store(seen, Ordering::SeqCst);
            built
        });
        let elapsed = started.elapsed().as_millis() as u64;
        let outcome = self.record(built, attempt_at, elapsed, trigger);
        // Durable, so the reload counts in the statistics survive restarts.
        let entry = AuditEntry::new(
            attempt_at,
            "system",
            RELOAD_ACTION,
            None,
            serde_json::json!({
                "ok": outcome.ok, "trigger": trigger, "version": outcome.version,
                "duration_ms": elapsed, "errors": outcome.errors.len(),
            }),
        );
        if let Err(e) = inner.store.append_audit(&[entry]).await {
            tracing::warn!(error = %e, "could not record the reload in the audit log");
        }
        outcome
    }

    /// Updates the status with an attempt's result and swaps good knowledge in.
    fn record(
        &self,
        built: Result<Result<Knowledge, KnowledgeError>, tokio::task::JoinError>,
        attempt_at: i64,
        elapsed: u64,
        trigger: &str,
    ) -> KbStatus {
        let inner = &self.inner;
        let mut status = self.lock_status();
        status.last_attempt_at = Some(attempt_at);
        status.last_duration_ms = Some(elapsed);
        status.last_trigger = trigger.to_string();
        match built {
            Ok(Ok(k)) => {
                let changed = k.version != status.version;
                status.ok = true;
                status.errors.clear();
                status.version = k.version.clone();
                status.loaded_at = inner.clock.now_ms();
                status.faqs = k.index.len();
                status.intents = k.content.intents.len();
                status.examples = k.content.training_data().len();
                status.warnings = k.warnings.clone();
                status.reloads += 1;
                tracing::info!(version = %k.version, changed, elapsed_ms = elapsed, trigger, "knowledge reloaded");
                inner.live.swap(Arc::new(k));
            }
            Ok(Err(e)) => {
                status.ok = false;
                status.failures += 1;
                status.errors = match e {
                    KnowledgeError::Invalid(diagnostics) => {
                        diagnostics.into_iter().filter(|d| d.is_error()).collect()
                    }
                    other => vec![Diagnostic::error(
                        Path::new("-"),
                        None,
                        format!("rebuilding failed: {other}"),
                    )],
                };
                for d in &status.errors {
                    tracing::warn!(problem = %d, "reload refused; the last good knowledge keeps serving");
                }
            }
            Err(e) => {
                status.ok = false;
                status.failures += 1;
                status.errors = vec![Diagnostic::error(
                    Path::new("-"),
                    None,
                    format!("rebuilding crashed: {e}"),
                )];
                tracing::error!(error = %e, "reload task failed; the last good knowledge keeps serving");
            }
        }
        status.clone()
    }

    /// Watches `kb/` and `intents/` until `shutdown`, reloading after a change has settled.
    pub async fn watch(self, shutdown: CancellationToken) {
        let config = &self.inner.config;
        let dirs = vec![config.kb.clone(), config.intents.clone()];
        let every = Duration::from_millis(config.reload.poll_ms.max(50));
        let mut settling: Option<u64> = None;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            let now = fingerprint(&dirs).await;
            if now == self.inner.loaded.load(Ordering::SeqCst) {
                settling = None;
                continue;
            }
            if settling != Some(now) {
                // Changed since the last look: wait until it holds still.
                settling = Some(now);
                continue;
            }
            settling = None;
            self.reload("watch").await;
        }
    }
}

async fn fingerprint(dirs: &[PathBuf]) -> u64 {
    let dirs = dirs.to_vec();
    tokio::task::spawn_blocking(move || fingerprint_dirs(&dirs))
        .await
        .unwrap_or(0)
}

/// A hash of every file's path, size and modification time under `dirs`.
pub fn fingerprint_dirs(dirs: &[PathBuf]) -> u64 {
    let mut entries: Vec<(PathBuf, u64, u128)> = Vec::new();
    for dir in dirs {
        for entry in walkdir::WalkDir::new(dir)
            .follow_links(true)
            .into_iter()
            .flatten()
        {
            if !entry.file_type().is_file() {
                continue;
            }
            let (len, modified) = entry
                .metadata()
                .map(|m| {
                    let modified = m
                        .modified()
                        .ok()
                        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                        .map_or(0, |d| d.as_nanos());
                    (m.len(), modified)
                })
                .unwrap_or((0, 0));
            entries.push((entry.into_path(), len, modified));
        }
    }
    entries.sort();
    let mut bytes = Vec::new();
    for (path, len, modified) in entries {
        bytes.extend_from_slice(path.to_string_lossy().as_bytes());
        bytes.extend_from_slice(&len.to_le_bytes());
        bytes.extend_from_slice(&modified.to_le_bytes());
    }
    xxhash_rust::xxh3::xxh3_64(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_fingerprint_moves_with_any_change_and_only_then() {
        let dir = tempfile::tempdir().unwrap();
        let dirs = vec![dir.path().to_path_buf()];
        std::fs::write(dir.path().join("a.md"), "one").unwrap();
        let first = fingerprint(&dirs).await;
        assert_eq!(fingerprint(&dirs).await, first);
        std::fs::write(dir.path().join("a.md"), "two!").unwrap();
        let second = fingerprint(&dirs).await;
        assert_ne!(second, first);
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub").join("b.md"), "x").unwrap();
        assert_ne!(fingerprint(&dirs).await, second);
    }
}
