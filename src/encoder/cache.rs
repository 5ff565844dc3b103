//! Embeddings of content text (FAQ questions and alternates, intent examples, evaluation
//! sets), cached on disk keyed by a hash of the text, so a restart or a KB reload embeds only
//! what changed.
//!
//! Layout: one append-only file per encoder, `embeddings-<fingerprint>.bin`, made of fixed-size
//! records (128-bit xxh3 of the text, then `dim` little-endian f32). Appending whole records
//! means a crash can only leave a partial record at the end, which loading ignores. The
//! encoder's fingerprint is in the file name, so vectors from other weights are never mixed in.
//! Shoppers' messages are never written here.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::model::EncoderError;
use super::routed::LanguageEncoders;
use crate::telemetry::progress::Progress;

const KEY_BYTES: usize = 16;

/// Vectors with the hash of their text.
type Keyed = Vec<(u128, Arc<[f32]>)>;

/// In-memory map of text hash → vector, backed by an append-only file when given a directory.
#[derive(Debug)]
pub struct EmbeddingCache {
    dim: usize,
    path: Option<PathBuf>,
    vectors: RwLock<HashMap<u128, Arc<[f32]>>>,
    /// Serialises appends from concurrent builders.
    append: Mutex<()>,
    /// Texts embedded (not found in the cache) since opening.
    computed: AtomicUsize,
}

fn key_of(text: &str) -> u128 {
    xxhash_rust::xxh3::xxh3_128(text.as_bytes())
}

impl EmbeddingCache {
    /// Opens (or starts) the cache for `encoder` in `dir`; `None` keeps it in memory only.
    /// An unreadable cache file is not fatal: it is logged and rebuilt as vectors are added.
    pub fn open(dir: Option<&Path>, encoder: &LanguageEncoders) -> EmbeddingCache {
        let dim = encoder.dim();
        let path = dir.map(|d| {
            d.join(format!(
                "embeddings-{}.bin",
                &encoder.fingerprint()[..16.min(encoder.fingerprint().len())]
            ))
        });
        let mut vectors = HashMap::new();
        if let Some(p) = &path {
            match std::fs::read(p) {
                Ok(bytes) => {
                    let record = KEY_BYTES + dim * 4;
                    for chunk in bytes.chunks_exact(record) {
                        let mut key = [0u8; KEY_BYTES];
                        key.copy_from_slice(&chunk[..KEY_BYTES]);
                        let v: Vec<f32> = chunk[KEY_BYTES..]
                            .chunks_exact(4)
                            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                            .collect();
                        vectors.insert(u128::from_le_bytes(key), Arc::from(v));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(path = %p.display(), error = %e, "embedding cache unreadable; rebuilding it")
                }
            }
        }
        EmbeddingCache {
            dim,
            path,
            vectors: RwLock::new(vectors),
            append: Mutex::new(()),
            computed: AtomicUsize::new(0),
        }
    }

    /// How many vectors the cache holds.
    pub fn len(&self) -> usize {
        self.vectors.read().map(|v| v.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many texts had to be embedded since the cache was opened (the rest were hits).
    pub fn computed(&self) -> usize {
        self.computed.load(Ordering::Relaxed)
    }

    /// The cached vector of `text`, if any.
    pub fn get(&self, text: &str) -> Option<Arc<[f32]>> {
        self.vectors.read().ok()?.get(&key_of(text)).cloned()
    }

    /// Vectors for all `texts`, in order: cached ones looked up, the rest embedded with
    /// `encoder` on `threads` threads and added to the cache (and its file).
    pub fn embed_all(
        &self,
        encoder: &LanguageEncoders,
        texts: &[&str],
        threads: usize,
    ) -> Result<Vec<Arc<[f32]>>, EncoderError> {
        let keys: Vec<u128> = texts.iter().map(|t| key_of(t)).collect();
        let mut missing: Vec<(u128, &str)> = {
            let known = self.vectors.read().map_err(|_| EncoderError::Stopped)?;
            keys.iter()
                .zip(texts)
                .filter(|(k, _)| !known.contains_key(k))
                .map(|(k, t)| (*k, *t))
                .collect()
        };
        missing.sort_by_key(|(k, _)| *k);
        missing.dedup_by_key(|(k, _)| *k);
        if !missing.is_empty() {
            let fresh = embed_parallel(encoder, &missing, threads.max(1))?;
            self.computed.fetch_add(fresh.len(), Ordering::Relaxed);
            self.persist(&fresh);
            let mut known = self.vectors.write().map_err(|_| EncoderError::Stopped)?;
            for (k, v) in fresh {
                known.insert(k, v);
            }
        }
        let known = self.vectors.read().map_err(|_| EncoderError::Stopped)?;
        keys.iter()
            .map(|k| known.get(k).cloned().ok_or(EncoderError::Stopped))
            .collect()
    }

    /// Appends new vectors to the cache file. Failure to write only costs recomputation
    /// later, so it is logged, not returned.
    fn persist(&self, fresh: &[(u128, Arc<[f32]>)]) {
        let Some(path) = &self.path else { return };
        let _guard = self.append.lock();
        let mut buf = Vec::with_capacity(fresh.len() * (KEY_BYTES + self.dim * 4));
        for (k, v) in fresh {
            buf.extend_from_slice(&k.to_le_bytes());
            for x in v.iter() {
                buf.extend_from_slice(&x.to_le_bytes());
            }
        }
        let result = (|| -> std::io::Result<()> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            // A partial record left by an earlier crash would misalign everything appended
            // after it: cut it off first.
            let len = file.metadata()?.len();
            let record = (KEY_BYTES + self.dim * 4) as u64;
            if len % record != 0 {
                file.set_len(len - len % record)?;
            }
            file.write_all(&buf)?;
            file.sync_data()
        })();
        if let Err(e) = result {
            tracing::warn!(path = %path.display(), error = %e, "could not write the embedding cache");
        }
    }
}

/// Texts each worker takes at a time: small enough for steady progress, large enough for
/// the encoder's batching.
const PIECE: usize = 64;

fn embed_parallel(
    encoder: &LanguageEncoders,
    items: &[(u128, &str)],
    threads: usize,
) -> Result<Keyed, EncoderError> {
    let progress = Progress::start("embedding texts", items.len() as u64);
    let next = AtomicUsize::new(0);
    let result = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads.min(items.len().div_ceil(PIECE)).max(1))
            .map(|_| {
                scope.spawn(|| -> Result<Keyed, EncoderError> {
                    let mut out = Vec::new();
                    loop {
                        let start = next.fetch_add(PIECE, Ordering::Relaxed);
                        if start >= items.len() {
                            return Ok(out);
                        }
                        let piece = &items[start..(start + PIECE).min(items.len())];
                        let texts: Vec<&str> = piece.iter().map(|(_, t)| *t).collect();
                        let vectors = encoder.embed_many(&texts)?;
                        out.extend(
                            piece
                                .iter()
                                .zip(vectors)
                                .map(|((k, _), v)| (*k, Arc::<[f32]>::from(v))),
                        );
                        progress.add(piece.len() as u64);
                    }
                })
            })
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for h in handles {
            out.extend(h.join().map_err(|_| EncoderError::Stopped)??);
        }
        Ok(out)
    });
    progress.finish();
    result
}
