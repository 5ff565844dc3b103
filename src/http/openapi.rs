//! The OpenAPI 3.1 description of the JSON API, generated from the handlers' annotations and
//! served at `GET /openapi.json`. Shop developers and API testers read it; the integration
//! tests check that it names every route [`super::api_routes`] registers, and CI fuzzes a
//! running server against it, so it cannot quietly drift from what the server does.
//!
//! The error responses that every operation of a kind can give (401 without a valid token,
//! 404 for an unknown id, 400/413/415/422 for a bad body) are added by [`CommonErrors`]
//! rather than repeated on each handler; what only some operations answer (403, 409, 429)
//! is written on those handlers.

use std::sync::OnceLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

use super::{admin, agent, health, kb, moderation, quality, rules, shopper, supervisor, ws};

/// Security scheme of a conversation's token (`POST /v1/conversations` hands it out).
pub const SHOPPER: &str = "shopper_token";
/// Security scheme of an agent's token (`baton agent add` or the admin API hand it out).
pub const AGENT: &str = "agent_token";
/// Security scheme of the admin token from configuration.
pub const ADMIN: &str = "admin_token";

/// The body of every error: `{"error": "<code>", "message": "<text>"}`.
#[derive(Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// Stable machine-readable code (`invalid_request`, `not_found`, `conflict`, …).
    pub error: String,
    /// What went wrong, for people.
    pub message: String,
    /// Problems found in submitted FAQ content (`invalid_content` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<Vec<serde_json::Value>>,
}

/// `{"status": "ok"}`
#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: String,
}

/// Readiness: knowledge loaded, database answering.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: String,
    /// `ok` or `unavailable`.
    pub database: String,
    pub knowledge_version: String,
    pub faqs: u64,
    pub intents: u64,
}

/// A shopper action's result: the new state and what the shopper now sees.
#[derive(Serialize, ToSchema)]
pub struct ShopperReplies {
    pub conversation_id: String,
    pub state: crate::conversation::ConversationState,
    pub replies: Vec<serde_json::Value>,
}

/// A message left for the team.
#[derive(Serialize, ToSchema)]
pub struct TicketLeft {
    pub conversation_id: String,
    pub ticket_id: String,
    pub state: crate::conversation::ConversationState,
    pub replies: Vec<serde_json::Value>,
}

/// A one-time ticket that opens a WebSocket (`?ticket=`).
#[derive(Serialize, ToSchema)]
pub struct SocketTicket {
    pub ticket: String,
    /// Seconds the ticket stays good.
    pub expires_in: i64,
}

/// An agent as the agent sees themselves.
#[derive(Serialize, ToSchema)]
pub struct AgentProfile {
    pub id: String,
    pub name: String,
    pub skills: Vec<String>,
    pub max_chats: u32,
    /// Skill groups the agent supervises (empty for most agents).
    pub supervises: Vec<String>,
    pub status: crate::handoff::agent::AgentStatus,
    /// The status with presence applied (an agent who went quiet counts as offline).
    pub effective_status: crate::handoff::agent::AgentStatus,
}

/// An agent's action on a conversation: its new state and the messages it produced.
#[derive(Serialize, ToSchema)]
pub struct AgentOutcome {
    pub conversation_id: String,
    pub state: crate::conversation::ConversationState,
    pub messages: Vec<serde_json::Value>,
    /// True when this answers a retry of an already stored `client_msg_id`.
    pub duplicate: bool,
}

/// An agent in the admin's list.
#[derive(Serialize, ToSchema)]
pub struct AgentSummary {
    pub id: String,
    pub name: String,
    pub skills: Vec<String>,
    pub max_chats: u32,
    pub status: crate::handoff::agent::AgentStatus,
    pub effective_status: crate::handoff::agent::AgentStatus,
    pub disabled: bool,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// `{"agents": […]}`
#[derive(Serialize, ToSchema)]
pub struct AgentList {
    pub agents: Vec<AgentSummary>,
}

/// An agent record (without its token's hash).
#[derive(Serialize, ToSchema)]
pub struct AgentRecord {
    pub agent: serde_json::Value,
}

/// An agent record and its bearer token, shown this once.
#[derive(Serialize, ToSchema)]
pub struct AgentWithToken {
    pub agent: serde_json::Value,
    pub token: String,
}

/// `{"entries": […]}`, newest first.
#[derive(Serialize, ToSchema)]
pub struct AuditLog {
    pub entries: Vec<serde_json::Value>,
}

/// Knowledge gaps: groups of questions the bot could not answer.
#[derive(Serialize, ToSchema)]
pub struct Gaps {
    /// Unix milliseconds.
    pub from: i64,
    /// Unix milliseconds.
    pub to: i64,
    pub groups: Vec<serde_json::Value>,
}

/// `{"drafts": […]}`
#[derive(Serialize, ToSchema)]
pub struct Drafts {
    pub drafts: Vec<serde_json::Value>,
}

/// An approved draft, now an FAQ file.
#[derive(Serialize, ToSchema)]
pub struct DraftApproved {
    pub faq_id: String,
    pub lang: crate::nlu::Lang,
    pub path: String,
    pub etag: String,
}

/// A rejected draft.
#[derive(Serialize, ToSchema)]
pub struct DraftRejected {
    pub id: String,
    /// `rejected`
    pub status: String,
}

/// One FAQ in the list.
#[derive(Serialize, ToSchema)]
pub struct FaqSummary {
    pub id: String,
    pub lang: crate::nlu::Lang,
    pub question: String,
    pub tags: Vec<String>,
    pub skill: Option<String>,
    /// Its file, relative to the folder that holds `kb/`.
    pub path: Option<String>,
}

/// A page of the FAQs the bot serves.
#[derive(Serialize, ToSchema)]
pub struct FaqList {
    pub total: u64,
    /// The serving knowledge snapshot.
    pub version: String,
    pub faqs: Vec<FaqSummary>,
}

/// An FAQ as its file has it.
#[derive(Serialize, ToSchema)]
pub struct FaqFile {
    pub id: String,
    pub lang: crate::nlu::Lang,
    pub path: String,
    pub etag: String,
    pub question: String,
    pub alternates: Vec<String>,
    pub tags: Vec<String>,
    pub skill: Option<String>,
    pub handoff: crate::content::faq::FaqHandoff,
    pub answer: String,
}

/// A rules file and what is being served from it.
#[derive(Serialize, ToSchema)]
pub struct RulesFileBody {
    /// Where the file is, relative to the folder holding `intents/`.
    pub path: String,
    /// Empty when there is no file yet.
    pub etag: String,
    pub text: String,
    /// What is live now (it follows the file after a reload).
    pub live: serde_json::Value,
}

/// Quality reviews, and per agent the number, the average final score and the findings.
#[derive(Serialize, ToSchema)]
pub struct ReviewList {
    pub reviews: Vec<crate::quality::ReviewItem>,
    pub by_agent: Vec<crate::quality::AgentQuality>,
}

/// `{"blocks": […]}`, newest first; each block also says whether it is `live` now.
#[derive(Serialize, ToSchema)]
pub struct BlockList {
    pub blocks: Vec<crate::moderation::Block>,
}

/// What the word lists caught over a period.
#[derive(Serialize, ToSchema)]
pub struct WordHitLog {
    /// Unix ms: the start of the period.
    pub since: i64,
    /// Each list's label, by id.
    pub labels: std::collections::BTreeMap<String, String>,
    pub counts: Vec<crate::moderation::WordHitCount>,
    /// The latest matches, newest first.
    pub hits: Vec<crate::moderation::WordHit>,
}

/// An FAQ written.
#[derive(Serialize, ToSchema)]
pub struct FaqWritten {
    pub id: String,
    pub lang: crate::nlu::Lang,
    pub path: String,
    pub etag: String,
    /// True when the file is new.
    pub created: bool,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Baton",
        description = "Customer-service chatbot engine with human handoff: the shopper API \
            (what the chat widget calls), the agent API (the agent console) and the admin API. \
            Every error is `{\"error\": \"<code>\", \"message\": \"<text>\"}`."
    ),
    paths(
        health::healthz,
        health::readyz,
        shopper::create,
        shopper::show,
        shopper::send,
        shopper::list,
        shopper::handoff,
        shopper::rate,
        shopper::set_page,
        shopper::leave_message,
        shopper::welcome,
        ws::shopper_ticket,
        ws::shopper,
        agent::me,
        agent::status,
        agent::heartbeat,
        agent::queue,
        agent::tickets,
        agent::close_ticket,
        ws::agent_ticket,
        ws::agent,
        agent::view,
        agent::accept,
        agent::decline,
        agent::reply,
        agent::note,
        agent::lookup,
        agent::transfer,
        agent::resolve,
        agent::wrap_up_categories,
        agent::return_to_bot,
        agent::reveal,
        quality::mine,
        quality::my_review,
        quality::appeal,
        quality::list,
        quality::open,
        quality::score,
        quality::export,
        supervisor::overview,
        supervisor::watch,
        supervisor::whisper,
        supervisor::take_over,
        supervisor::reassign,
        admin::list_agents,
        admin::add_agent,
        admin::update_agent,
        admin::rotate_agent,
        admin::audit,
        admin::forget_customer,
        admin::forget_conversation,
        admin::kb_status,
        admin::kb_reload,
        admin::stats,
        kb::gaps,
        kb::drafts,
        kb::approve_draft,
        kb::reject_draft,
        kb::list_faqs,
        kb::get_faq,
        kb::put_faq,
        rules::get_rules,
        rules::put_rules,
        kb::delete_faq,
        moderation::list_blocks,
        moderation::create_block,
        moderation::lift_block,
        moderation::word_hits,
    ),
    components(schemas(ErrorBody)),
    modifiers(&Security, &CommonErrors),
    tags(
        (name = "probes", description = "Liveness and readiness"),
        (name = "shopper", description = "A shopper's conversation: the chat widget's API"),
        (name = "agent", description = "The agent console's API"),
        (name = "quality", description = "Quality review: the queue, scores and comments, decisions on appeals, the CSV export (admin token, or a supervisor's agent token)"),
        (name = "supervisor", description = "A supervisor's view of their groups: watch, whisper, take over, reassign"),
        (name = "admin", description = "Agents, audit, erasure, knowledge, rules, the blacklist and statistics"),
    )
)]
pub struct ApiDoc;

/// The three bearer-token schemes.
struct Security;

impl Modify for Security {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        for (name, what) in [
            (
                SHOPPER,
                "The conversation's token from `POST /v1/conversations`.",
            ),
            (
                AGENT,
                "An agent's token from `baton agent add` or `POST /v1/admin/agents`.",
            ),
            (
                ADMIN,
                "The admin token from configuration (`BATON_ADMIN_TOKEN`).",
            ),
        ] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(what))
                        .build(),
                ),
            );
        }
    }
}

/// Adds the errors an operation gives by its shape: what its token, path, query and body
/// can get wrong. Responses a handler documents itself are left as they are.
struct CommonErrors;

fn error(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Error")))
                    .build(),
            )
            .build(),
    )
}

fn add_error(op: &mut Operation, status: &str, description: &str) {
    op.responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| error(description));
}

impl Modify for CommonErrors {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        for (path, item) in api.paths.paths.iter_mut() {
            let admin = path.starts_with("/v1/admin/");
            for op in [
                item.get.as_mut(),
                item.post.as_mut(),
                item.put.as_mut(),
                item.patch.as_mut(),
                item.delete.as_mut(),
            ]
            .into_iter()
            .flatten()
            {
                let params = op.parameters.as_deref().unwrap_or_default();
                let in_path = params
                    .iter()
                    .any(|p| matches!(p.parameter_in, ParameterIn::Path));
                let in_query = params
                    .iter()
                    .any(|p| matches!(p.parameter_in, ParameterIn::Query));
                if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    add_error(op, "401", "Missing or invalid bearer token");
                }
                if in_path {
                    add_error(op, "404", "No such resource");
                }
                if in_query {
                    add_error(op, "422", "A query parameter is invalid");
                }
                if op.request_body.is_some() {
                    add_error(op, "400", "The body is not well-formed JSON");
                    add_error(op, "413", "The body is larger than the configured limit");
                    add_error(op, "415", "The body is not `application/json`");
                    add_error(op, "422", "The body is JSON but not a valid request");
                }
                if admin {
                    add_error(
                        op,
                        "503",
                        "The admin API is off (no admin token configured)",
                    );
                }
            }
        }
    }
}

/// The document, serialised once.
fn document() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        ApiDoc::openapi()
            .to_json()
            // The document is built from constants: failing to serialise it is a bug that
            // the tests catch, not something a request can cause.
            .unwrap_or_else(|e| format!(r#"{{"error":"internal","message":"{e}"}}"#))
    })
}

/// `GET /openapi.json`: public, and cacheable like the other static assets.
pub async fn serve() -> Response {
    let mut r = document().into_response();
    let headers = r.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}
