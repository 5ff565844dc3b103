//! The page the shopper is on: the widget or app says which product or order is being
//! viewed, and it is kept in the conversation's dialogue memory — a slot an order task can
//! use ("is this in stock?") and a line in the agent's context view.

use super::commit::Change;
use super::{ConversationService, ServiceError, check_token};
use crate::dialogue_memory::Page;

impl ConversationService {
    /// Stores the shopper's page (the whole of it: fields left out are cleared).
    pub async fn set_page(
        &self,
        id: &str,
        token: Option<&str>,
        page: Page,
    ) -> Result<(), ServiceError> {
        super::check_id(id)?;
        check_token(&self.load(id).await?, token)?;
        if !page.is_reasonable() {
            return Err(ServiceError::Invalid(format!(
                "each page field holds at most {} characters",
                Page::MAX_CHARS
            )));
        }
        self.apply(id, None, |c, _, _| {
            let mut memory = c.dialogue.clone();
            memory.page = Some(page.clone());
            Ok(Change {
                dialogue: Some(memory),
                ..Change::default()
            })
        })
        .await?;
        Ok(())
    }
}
