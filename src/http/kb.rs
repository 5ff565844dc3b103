//! The knowledge editors' API (`/v1/admin/faqs…`, `/v1/admin/kb/gaps`, `/v1/admin/kb/drafts…`):
//! FAQ CRUD on the files under `kb/` with ETags, the knowledge gaps, and approving agents'
//! answers into FAQs. Admin token required. Every write goes through the
//! [`Editor`](crate::content::editor::Editor) (validated, optimistic, atomic) and is followed
//! by a reload, so the change is live seconds later even when the directories are not watched.

use std::path::{Path as FsPath, PathBuf};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::admin::{TimeRange, require_admin};
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery, optional_json};
use crate::content::editor::{FaqDoc, Precondition};
use crate::nlu::Lang;
use crate::store::DraftStatus;

fn lang_of(code: &str) -> Result<Lang, ApiError> {
    match code {
        "zh" => Ok(Lang::Zh),
        "en" => Ok(Lang::En),
        other => Err(ApiError::NotFound(format!(
            "no language {other:?}: FAQs are `zh` or `en`"
        ))),
    }
}

/// A path as editors know it: relative to the folder that holds `kb/`.
pub(super) fn shown(state: &AppState, path: &FsPath) -> String {
    state.editor.shown(path).display().to_string()
}

/// Where the serving snapshot saw the FAQ: a hint that saves walking `kb/`.
fn hint(state: &AppState, id: &str, lang: Lang) -> Option<PathBuf> {
    state
        .service
        .knowledge()
        .content
        .faqs
        .iter()
        .find(|f| f.id == id && f.lang == lang)
        .and_then(|f| f.source.as_ref().map(|s| s.path.clone()))
}

pub(super) fn precondition(headers: &HeaderMap) -> Result<Precondition, ApiError> {
    let text = |name: header::HeaderName| {
        headers
            .get(name)
            .map(|v| {
                v.to_str()
                    .map(|s| s.trim().to_string())
                    .map_err(|_| ApiError::InvalidRequest("unreadable precondition header".into()))
            })
            .transpose()
    };
    match (text(header::IF_MATCH)?, text(header::IF_NONE_MATCH)?) {
        (Some(tag), _) => Ok(Precondition::Matches(tag)),
        (None, Some(star)) if star == "*" => Ok(Precondition::Absent),
        (None, Some(_)) => Err(ApiError::InvalidRequest(
            "If-None-Match supports only `*` (create, must not exist yet)".into(),
        )),
        (None, None) => Ok(Precondition::None),
    }
}

pub(super) fn with_etag(status: StatusCode, etag: &str, body: serde_json::Value) -> Response {
    let mut r = (status, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(etag) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

/// The answer to a file written: `201` when it is new, else `200`, with its `ETag`.
pub(super) fn written_response(
    written: &crate::content::editor::Written,
    body: serde_json::Value,
) -> Response {
    let status = if written.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    with_etag(status, &written.etag, body)
}

/// Rebuilds in the background: the edit is on disk; the answer need not wait for training.
pub(super) fn reload_soon(state: &AppState) {
    let reloader = state.reloader.clone();
    tokio::spawn(async move {
        reloader.reload("api").await;
    });
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FaqListQuery {
    /// Words that the id or question must contain.
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    lang: Option<String>,
    #[serde(default = "default_page")]
    limit: usize,
    #[serde(default)]
    offset: usize,
}

fn default_page() -> usize {
    100
}

/// `GET /v1/admin/faqs?q=&lang=&limit=&offset=`: the FAQs the bot serves now.
#[utoipa::path(get, path = "/v1/admin/faqs", tag = "admin", params(FaqListQuery), security(("admin_token" = [])), responses((status = 200, description = "The FAQs the bot serves now", body = crate::http::openapi::FaqList)))]
pub async fn list_faqs(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<FaqListQuery>,
) -> Result<impl IntoResponse, ApiError> {
    require_admin(&state, &headers)?;
    let lang = q.lang.as_deref().map(lang_of).transpose()?;
    let needle = q.q.as_deref().map(crate::nlu::normalize);
    let knowledge = state.knowledge.current();
    let matching: Vec<_> = knowledge
        .content
        .faqs
        .iter()
        .filter(|f| lang.is_none_or(|l| f.lang == l))
        .filter(|f| {
            needle
                .as_deref()
                .is_none_or(|n| f.id.contains(n) || crate::nlu::normalize(&f.question).contains(n))
        })
        .collect();
    let page: Vec<_> = matching
        .iter()
        .skip(q.offset)
        .take(q.limit.clamp(1, 1000))
        .map(|f| {
            json!({
                "id": f.id, "lang": f.lang, "question": f.question, "tags": f.tags,
                "skill": f.skill, "handoff": f.handoff,
                "path": f.source.as_ref().map(|s| shown(&state, &s.path)),
            })
        })
        .collect();
    Ok(Json(
        json!({ "total": matching.len(), "version": knowledge.version, "faqs": page }),
    ))
}

/// `GET /v1/admin/faqs/{id}/{lang}`: the FAQ as its file has it now, with its `ETag`.
#[utoipa::path(get, path = "/v1/admin/faqs/{id}/{lang}", tag = "admin", params(("id" = String, Path, description = "The FAQ's id"), ("lang" = String, Path, description = "`zh` or `en`")), security(("admin_token" = [])), responses((status = 200, description = "The FAQ as its file has it", body = crate::http::openapi::FaqFile, headers(("ETag" = String)))))]
pub async fn get_faq(
    State(state): State<AppState>,
    Path((id, lang)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    let lang = lang_of(&lang)?;
    let file = state
        .editor
        .find(&id, lang, hint(&state, &id, lang).as_deref())
        .ok_or_else(|| ApiError::NotFound(format!("no FAQ {id:?} in {lang}")))?;
    let doc = FaqDoc::of(&file.faq);
    Ok(with_etag(
        StatusCode::OK,
        &file.etag,
        json!({
            "id": id, "lang": lang, "path": shown(&state, &file.path), "etag": file.etag,
            "question": doc.question, "alternates": doc.alternates, "tags": doc.tags,
            "skill": doc.skill, "handoff": doc.handoff, "answer": doc.answer,
        }),
    ))
}

/// `PUT /v1/admin/faqs/{id}/{lang}` with the FAQ: creates it (`If-None-Match: *`, or no
/// header) or replaces it (`If-Match: <etag>` required). 409 when the file changed since.
#[utoipa::path(put, path = "/v1/admin/faqs/{id}/{lang}", tag = "admin", params(("id" = String, Path, description = "The FAQ's id"), ("lang" = String, Path, description = "`zh` or `en`"), ("If-Match" = Option<String>, Header, description = "The ETag of the version replaced"), ("If-None-Match" = Option<String>, Header, description = "`*`: create only")), security(("admin_token" = [])), request_body = FaqDoc, responses((status = 201, description = "Created", body = crate::http::openapi::FaqWritten, headers(("ETag" = String))), (status = 200, description = "Replaced", body = crate::http::openapi::FaqWritten, headers(("ETag" = String))), (status = 409, description = "The file changed since the ETag, or exists already", body = crate::http::openapi::ErrorBody), (status = 428, description = "Replacing needs `If-Match`", body = crate::http::openapi::ErrorBody)))]
pub async fn put_faq(
    State(state): State<AppState>,
    Path((id, lang)): Path<(String, String)>,
    headers: HeaderMap,
    ApiJson(doc): ApiJson<FaqDoc>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    let lang = lang_of(&lang)?;
    let pre = precondition(&headers)?;
    let written = state
        .editor
        .put(&id, lang, &doc, &pre, hint(&state, &id, lang).as_deref())
        .await?;
    let path = shown(&state, &written.path);
    state
        .desk
        .audit_admin(
            "kb.faq_put",
            json!({ "faq_id": id, "lang": lang, "path": path, "created": written.created }),
        )
        .await?;
    reload_soon(&state);
    Ok(written_response(
        &written,
        json!({ "id": id, "lang": lang, "path": path, "etag": written.etag, "created": written.created }),
    ))
}

/// `DELETE /v1/admin/faqs/{id}/{lang}` with `If-Match`.
#[utoipa::path(delete, path = "/v1/admin/faqs/{id}/{lang}", tag = "admin", params(("id" = String, Path, description = "The FAQ's id"), ("lang" = String, Path, description = "`zh` or `en`"), ("If-Match" = Option<String>, Header, description = "The ETag of the version deleted")), security(("admin_token" = [])), responses((status = 204, description = "Deleted"), (status = 409, description = "The file changed since the ETag", body = crate::http::openapi::ErrorBody), (status = 428, description = "Deleting needs `If-Match`", body = crate::http::openapi::ErrorBody)))]
pub async fn delete_faq(
    State(state): State<AppState>,
    Path((id, lang)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    require_admin(&state, &headers)?;
    let lang = lang_of(&lang)?;
    let pre = precondition(&headers)?;
    let path = state
        .editor
        .delete(&id, lang, &pre, hint(&state, &id, lang).as_deref())
        .await?;
    state
        .desk
        .audit_admin(
            "kb.faq_delete",
            json!({ "faq_id": id, "lang": lang, "path": shown(&state, &path) }),
        )
        .await?;
    reload_soon(&state);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GapQuery {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    /// Groups with fewer questions are left out.
    #[serde(default = "one")]
    min_count: u64,
    #[serde(default = "default_groups")]
    limit: usize,
    #[serde(default = "default_examples")]
    examples: usize,
}

fn one() -> u64 {
    1
}

fn default_groups() -> usize {
    50
}

fn default_examples() -> usize {
    5
}

/// `GET /v1/admin/kb/gaps?from=&to=&min_count=&limit=&examples=`
#[utoipa::path(get, path = "/v1/admin/kb/gaps", tag = "admin", params(GapQuery), security(("admin_token" = [])), responses((status = 200, description = "Groups of questions the bot could not answer", body = crate::http::openapi::Gaps)))]
pub async fn gaps(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<GapQuery>,
) -> Result<impl IntoResponse, ApiError> {
    require_admin(&state, &headers)?;
    let range = TimeRange {
        from: q.from.clone(),
        to: q.to.clone(),
    };
    let (from, to) = range.resolve(state.clock.now_ms())?;
    let groups: Vec<_> = state
        .insights
        .gap_groups(from, to, q.examples.min(50))
        .await?
        .into_iter()
        .filter(|g| g.count >= q.min_count)
        .take(q.limit.clamp(1, 1000))
        .collect();
    Ok(Json(json!({ "from": from, "to": to, "groups": groups })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DraftQuery {
    #[serde(default)]
    status: Option<String>,
}

/// `GET /v1/admin/kb/drafts?status=pending|approved|rejected`
#[utoipa::path(get, path = "/v1/admin/kb/drafts", tag = "admin", params(DraftQuery), security(("admin_token" = [])), responses((status = 200, description = "FAQ drafts from agents' answers", body = crate::http::openapi::Drafts)))]
pub async fn drafts(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<DraftQuery>,
) -> Result<impl IntoResponse, ApiError> {
    require_admin(&state, &headers)?;
    let status = match q.status.as_deref() {
        None => DraftStatus::Pending,
        Some(s) => DraftStatus::parse(s).ok_or_else(|| {
            ApiError::InvalidRequest("status must be pending, approved or rejected".into())
        })?,
    };
    let mut drafts = state.store.drafts(status, 500).await?;
    if status == DraftStatus::Pending {
        drafts = state.insights.with_paraphrases(drafts).await?;
    }
    Ok(Json(json!({ "drafts": drafts })))
}

/// What an editor may change while approving a draft; everything defaults to the draft's.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    question: Option<String>,
    #[serde(default)]
    answer: Option<String>,
    #[serde(default)]
    alternates: Option<Vec<String>>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    skill: Option<String>,
    #[serde(default)]
    handoff: crate::content::faq::FaqHandoff,
    /// Folder under `kb/` (default `from-agents`).
    #[serde(default)]
    category: Option<String>,
}

/// Where approved drafts go unless the editor names a folder.
const DRAFT_FOLDER: &str = "from-agents";

async fn pending_draft(state: &AppState, id: &str) -> Result<crate::store::FaqDraft, ApiError> {
    let draft = state
        .service
        .store()
        .draft(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no draft {id:?}")))?;
    if draft.status != DraftStatus::Pending {
        return Err(ApiError::Conflict(format!(
            "draft {id:?} is already {}",
            draft.status.as_str()
        )));
    }
    Ok(draft)
}

/// `POST /v1/admin/kb/drafts/{id}/approve` (body optional, see [`Approval`]): writes the FAQ
/// file (new only: 409 if the id is taken) and goes live.
///
/// The draft is claimed first, by a compare-and-set of its status in the store: of
/// concurrent approvals exactly one wins and writes a file, the others get 409. A write that
/// fails hands the draft back to pending, so the editor can fix the request and retry.
#[utoipa::path(post, path = "/v1/admin/kb/drafts/{id}/approve", tag = "admin", params(("id" = String, Path, description = "The draft's id")), security(("admin_token" = [])), request_body(content = Option<Approval>, description = "Changes to the draft; optional"), responses((status = 201, description = "The FAQ file is written and goes live", body = crate::http::openapi::DraftApproved, headers(("ETag" = String))), (status = 409, description = "Already decided, or the FAQ id is taken", body = crate::http::openapi::ErrorBody)))]
pub async fn approve_draft(
    State(state): State<AppState>,
    Path(draft_id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    // The body is optional: approving as proposed needs none.
    let a: Approval = optional_json(&body)?;
    let draft = pending_draft(&state, &draft_id).await?;
    let draft = match a.alternates {
        Some(_) => draft,
        None => state
            .insights
            .with_paraphrases(vec![draft])
            .await?
            .pop()
            .ok_or_else(|| ApiError::Internal("the draft went missing".into()))?,
    };
    let faq_id = a.id.unwrap_or_else(|| draft.suggested_id.clone());
    let doc = FaqDoc {
        question: a.question.unwrap_or(draft.question),
        alternates: a.alternates.unwrap_or(draft.alternates),
        tags: a.tags.unwrap_or_else(|| vec!["from-agent".into()]),
        skill: a.skill,
        handoff: a.handoff,
        answer: a.answer.unwrap_or(draft.answer),
        category: Some(a.category.unwrap_or_else(|| DRAFT_FOLDER.into())),
    };
    let now = state.clock.now_ms();
    let store = &state.store;
    if !store
        .decide_draft(&draft_id, DraftStatus::Approved, Some(&faq_id), now)
        .await?
    {
        return Err(ApiError::Conflict(format!(
            "draft {draft_id:?} was decided meanwhile"
        )));
    }
    let written = match state
        .editor
        .put(&faq_id, draft.lang, &doc, &Precondition::Absent, None)
        .await
    {
        Ok(w) => w,
        Err(e) => {
            store.reopen_draft(&draft_id, &faq_id).await?;
            return Err(e.into());
        }
    };
    let path = shown(&state, &written.path);
    state
        .desk
        .audit_admin(
            "kb.draft_approve",
            json!({ "draft_id": draft_id, "faq_id": faq_id, "path": path }),
        )
        .await?;
    reload_soon(&state);
    Ok(with_etag(
        StatusCode::CREATED,
        &written.etag,
        json!({ "faq_id": faq_id, "lang": draft.lang, "path": path, "etag": written.etag }),
    ))
}

/// `POST /v1/admin/kb/drafts/{id}/reject`
#[utoipa::path(post, path = "/v1/admin/kb/drafts/{id}/reject", tag = "admin", params(("id" = String, Path, description = "The draft's id")), security(("admin_token" = [])), responses((status = 200, description = "Rejected", body = crate::http::openapi::DraftRejected), (status = 409, description = "Already decided", body = crate::http::openapi::ErrorBody)))]
pub async fn reject_draft(
    State(state): State<AppState>,
    Path(draft_id): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    require_admin(&state, &headers)?;
    pending_draft(&state, &draft_id).await?;
    let now = state.clock.now_ms();
    let done = state
        .service
        .store()
        .decide_draft(&draft_id, DraftStatus::Rejected, None, now)
        .await?;
    if !done {
        return Err(ApiError::Conflict(format!(
            "draft {draft_id:?} was decided meanwhile"
        )));
    }
    state
        .desk
        .audit_admin("kb.draft_reject", json!({ "draft_id": draft_id }))
        .await?;
    Ok(Json(json!({ "id": draft_id, "status": "rejected" })))
}
