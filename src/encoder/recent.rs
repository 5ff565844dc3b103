//! Vectors of recent shoppers' messages, kept in memory so a repeated text is embedded once.
//!
//! Real traffic repeats itself: on a busy day thousands of shoppers type the same "我的订单到哪了"
//! or "where is my order". Each distinct normalised text is embedded once; later copies take
//! the vector from here. Concurrent copies of a text not seen yet wait for one forward pass
//! instead of each running their own. The cache is bounded (least recently and least often
//! used entries go first) and lives in memory only: it holds a hash of the text and its
//! vector, never the text, and nothing of it is written to disk.

use std::future::Future;
use std::sync::Arc;

use quick_cache::sync::Cache;

use super::model::EncoderError;

/// Message vectors by the 128-bit hash of the normalised text.
pub struct RecentVectors {
    /// `None` when caching is turned off (capacity 0).
    vectors: Option<Cache<u128, Arc<[f32]>>>,
}

impl std::fmt::Debug for RecentVectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecentVectors")
            .field("len", &self.vectors.as_ref().map_or(0, Cache::len))
            .finish()
    }
}

impl RecentVectors {
    /// A cache of at most `capacity` vectors (0 turns it off).
    pub fn new(capacity: usize) -> RecentVectors {
        RecentVectors {
            vectors: (capacity > 0).then(|| Cache::new(capacity)),
        }
    }

    /// The vector of `text`: from the cache, or from `embed` (stored for the next time).
    /// A failed `embed` stores nothing.
    pub async fn get_or_embed<F, Fut>(
        &self,
        text: &str,
        embed: F,
    ) -> Result<Arc<[f32]>, EncoderError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<f32>, EncoderError>>,
    {
        let Some(vectors) = &self.vectors else {
            return embed().await.map(Arc::from);
        };
        let key = xxhash_rust::xxh3::xxh3_128(text.as_bytes());
        vectors
            .get_or_insert_async(&key, async { embed().await.map(Arc::from) })
            .await
    }

    /// How many vectors are cached.
    pub fn len(&self) -> usize {
        self.vectors.as_ref().map_or(0, Cache::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn counting(calls: &AtomicUsize) -> impl Future<Output = Result<Vec<f32>, EncoderError>> {
        calls.fetch_add(1, Ordering::SeqCst);
        async { Ok(vec![1.0, 0.0]) }
    }

    #[tokio::test]
    async fn a_repeated_text_is_embedded_once() {
        let recent = RecentVectors::new(16);
        let calls = AtomicUsize::new(0);
        for _ in 0..3 {
            let v = recent
                .get_or_embed("我的订单到哪了", || counting(&calls))
                .await;
            assert_eq!(v.ok().as_deref(), Some(&[1.0, 0.0][..]));
        }
        recent
            .get_or_embed("where is my order", || counting(&calls))
            .await
            .ok();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(recent.len(), 2);
    }

    #[tokio::test]
    async fn a_failure_is_not_cached_and_capacity_zero_caches_nothing() {
        let recent = RecentVectors::new(16);
        let failed = recent
            .get_or_embed("退款", || async { Err(EncoderError::Busy) })
            .await;
        assert!(matches!(failed, Err(EncoderError::Busy)));
        assert!(recent.is_empty());

        let off = RecentVectors::new(0);
        let calls = AtomicUsize::new(0);
        for _ in 0..2 {
            off.get_or_embed("退款", || counting(&calls)).await.ok();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(off.is_empty());
    }

    #[tokio::test]
    async fn the_cache_stays_within_its_capacity() {
        let recent = RecentVectors::new(8);
        let calls = AtomicUsize::new(0);
        for n in 0..100 {
            recent
                .get_or_embed(&format!("question {n}"), || counting(&calls))
                .await
                .ok();
        }
        assert!(recent.len() <= 8, "{}", recent.len());
    }
}
