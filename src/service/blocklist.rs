//! This node's copy of the blacklist ([`crate::moderation::Blocklist`]), kept fresh from the
//! store: read at start-up, again at once after a change made through this node, and every
//! [`REFRESH`] — which is how a block made on another node arrives here.

use tokio_util::sync::CancellationToken;

use super::{ConversationService, ServiceError};
use crate::moderation::blocklist::REFRESH;

impl ConversationService {
    /// Reads the live blocks from the store into this node's copy.
    pub async fn refresh_blocklist(&self) -> Result<(), ServiceError> {
        let live = self.store().blocks(true, self.clock().now_ms()).await?;
        self.wiring().blocklist.replace(live);
        Ok(())
    }

    /// Refreshes every [`REFRESH`] until `stop`; a failed read keeps the last copy.
    pub async fn keep_blocklist_fresh(self, stop: CancellationToken) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(REFRESH) => {}
                _ = stop.cancelled() => return,
            }
            if let Err(e) = self.refresh_blocklist().await {
                tracing::warn!(error = %e, "could not read the blacklist; serving the last copy");
            }
        }
    }
}
