//! The FAQs the bot answered most lately, for the welcome card: the statistics' FAQ hits
//! over the last `days`, computed at most once per [`FRESH_FOR`] and shared meanwhile.
//!
//! ```text
//! card request ─► cached list fresh (same days, younger than FRESH_FOR)? ─► it
//!   └─ else, one request at a time: Insights::stats(now - days, now).faqs ─► ids by hits
//! ```
//!
//! Reading a week of conversations is the statistics' cost; paying it once per period, not
//! per shopper, keeps the card as cheap as a static page.

use std::sync::Arc;

use tokio::sync::Mutex;

use super::{Insights, InsightsError};

/// How long a computed list serves (by the service clock).
pub const FRESH_FOR_MS: i64 = 10 * 60 * 1000;

/// Most ids kept: more than any card pages through.
const KEEP: usize = 40;

#[derive(Clone)]
struct Computed {
    at: i64,
    days: u32,
    ids: Arc<Vec<String>>,
}

/// The last list computed.
#[derive(Default)]
pub struct PopularFaqs {
    last: Mutex<Option<Computed>>,
}

impl Insights {
    /// FAQ ids by answers given over the last `days`, most first.
    pub async fn popular_faqs(&self, days: u32) -> Result<Arc<Vec<String>>, InsightsError> {
        let now = self.clock.now_ms();
        // Held while computing: concurrent requests wait for one computation.
        let mut last = self.popular.last.lock().await;
        if let Some(c) = last.as_ref()
            && c.days == days
            && now - c.at < FRESH_FOR_MS
        {
            return Ok(c.ids.clone());
        }
        let stats = self
            .stats(now - i64::from(days) * 86_400_000, now + 1)
            .await?;
        let ids: Arc<Vec<String>> = Arc::new(
            stats
                .faqs
                .into_iter()
                .filter(|f| f.hits > 0)
                .take(KEEP)
                .map(|f| f.faq_id)
                .collect(),
        );
        *last = Some(Computed {
            at: now,
            days,
            ids: ids.clone(),
        });
        Ok(ids)
    }
}
