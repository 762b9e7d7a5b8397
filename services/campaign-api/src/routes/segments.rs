//! Audience segments: definitions in the campaign store, members in the segment store.

use super::uploads::{Activity, LineBatches, UploadSummary};
use crate::AppState;
use actix_web::{web, HttpResponse};
use endcap_core::{AdvertiserId, Role, ValidationError};
use endcap_store::Segment;
use endcap_web::{ApiError, Caller, ErrorBody, ErrorCode, JsonBody, RequestId};
use serde::{Deserialize, Serialize};

/// Body of `PUT /v1/segments/{id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentInput {
    /// Display name.
    pub name: String,
    /// Owner. Advertiser keys own what they create; admins leave it out for a segment
    /// shared by the retailer with every advertiser.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub advertiser_id: Option<AdvertiserId>,
}

/// A segment with its member count.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SegmentView {
    /// Definition.
    #[serde(flatten)]
    pub segment: Segment,
    /// Members now (None when the segment store cannot be reached).
    pub members: Option<u64>,
}

fn segment_id(raw: &str) -> Result<String, ApiError> {
    let ok = (1..=64).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(raw.to_string())
    } else {
        // Outside the path parameter's documented pattern: malformed, not a broken rule.
        Err(ApiError::new(
            ErrorCode::InvalidParameter,
            Some("id".into()),
            "segment ids are 1-64 lower-case letters, digits, - or _",
        ))
    }
}

/// The prefix an advertiser's segment ids carry: the random tail of its id, so an
/// advertiser can only name segments in its own namespace and nobody can claim an id the
/// retailer (or another advertiser) has yet to create.
pub fn segment_prefix(advertiser: AdvertiserId) -> String {
    let hex = advertiser.as_uuid().simple().to_string();
    format!("{}-", &hex[20..])
}

/// Advertiser segments live in their advertiser's namespace; shared (retailer) segments may
/// not take the shape of one.
fn check_namespace(id: &str, owner: Option<AdvertiserId>) -> Result<(), ApiError> {
    match owner {
        Some(adv) => {
            let prefix = segment_prefix(adv);
            if id.starts_with(&prefix) && id.len() > prefix.len() {
                Ok(())
            } else {
                Err(ValidationError::new(
                    "id",
                    format!("this advertiser's segment ids start with {prefix}"),
                )
                .into())
            }
        }
        None => {
            let b = id.as_bytes();
            let advertiser_shaped =
                b.len() > 13 && b[..12].iter().all(|c| c.is_ascii_hexdigit()) && b[12] == b'-';
            if advertiser_shaped {
                Err(ValidationError::new(
                    "id",
                    "12 hex digits and '-' start an advertiser's segment ids; shared segments are named otherwise",
                )
                .into())
            } else {
                Ok(())
            }
        }
    }
}

/// The segment, if the caller may see it (advertisers: their own and shared ones).
async fn visible(state: &AppState, caller: &Caller, id: &str) -> Result<Segment, ApiError> {
    let seg = state.store.segment(id).await?;
    match seg.advertiser_id {
        Some(owner) if !caller.0.can_read(owner) => Err(ApiError::not_found("segment")),
        _ => Ok(seg),
    }
}

/// The segment, if the caller may change its members.
async fn writable(state: &AppState, caller: &Caller, id: &str) -> Result<Segment, ApiError> {
    caller.writer()?;
    let seg = visible(state, caller, id).await?;
    let ok = match seg.advertiser_id {
        Some(owner) => caller.0.can_write(owner),
        None => caller.0.is_admin(),
    };
    if ok {
        Ok(seg)
    } else {
        Err(ApiError::forbidden(
            "shared segments are managed by the retailer",
        ))
    }
}

/// Create or rename a segment.
#[utoipa::path(put, path = "/v1/segments/{id}", tag = "segments", params(("id" = String, Path, pattern = "^[a-z0-9_-]{1,64}$")),
    request_body = SegmentInput,
    responses((status = 200, body = Segment), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_segment(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.writer()?;
    let input: SegmentInput = body.parse()?;
    let id = segment_id(&id)?;
    let name = endcap_core::validate_label(&input.name, "name")?;
    let owner = match (caller.0.role, input.advertiser_id) {
        (Role::Advertiser, asked) => {
            let own = caller.0.advertiser_id;
            if asked.is_some() && asked != own {
                return Err(ApiError::not_found("advertiser"));
            }
            own
        }
        (_, asked) => asked,
    };
    check_namespace(&id, owner)?;
    let seg = state
        .store
        .upsert_segment(&caller.actor(), &id, owner, &name)
        .await?;
    Ok(HttpResponse::Ok().json(seg))
}

/// Read a segment and its member count.
#[utoipa::path(get, path = "/v1/segments/{id}", tag = "segments", params(("id" = String, Path, pattern = "^[a-z0-9_-]{1,64}$")),
    responses((status = 200, body = SegmentView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_segment(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let seg = visible(&state, &caller, &segment_id(&id)?).await?;
    let members = state.segments.size(&seg.id).await.ok().map(|n| n as u64);
    Ok(HttpResponse::Ok().json(SegmentView {
        segment: seg,
        members,
    }))
}

async fn stream_members(
    state: &AppState,
    segment: &str,
    payload: web::Payload,
    add: bool,
) -> Result<UploadSummary, ApiError> {
    let mut summary = UploadSummary::default();
    let mut batches = LineBatches::new(payload);
    let mut any_line = false;
    loop {
        let batch = batches.next().await?;
        if batch.is_empty() {
            break;
        }
        any_line = true;
        let mut keys = Vec::with_capacity(batch.len());
        for (n, line) in batch {
            match endcap_ingest::parse_member(n, &line) {
                Ok(Some(k)) => keys.push(k.as_str().to_string()),
                Ok(None) => {}
                Err(e) => summary.reject(e),
            }
        }
        let done = if add {
            state.segments.add_members(segment, &keys).await
        } else {
            state.segments.remove_members(segment, &keys).await
        };
        summary.accepted += done.map_err(segment_error)? as u64;
    }
    if !add && !any_line {
        summary.accepted = state.segments.clear(segment).await.map_err(segment_error)? as u64;
    }
    Ok(summary)
}

/// A refused member write: the store's refusals (a segment over its size bound) are the
/// client's to fix; a backend fault is ours.
fn segment_error(e: endcap_segments::SegmentError) -> ApiError {
    match e {
        endcap_segments::SegmentError::Store(s) => s.into(),
        other => ApiError::internal(&other),
    }
}

/// Add members: one hashed (SHA-256 hex) user key per line, CSV or NDJSON `{"user_key"}`.
#[utoipa::path(put, path = "/v1/segments/{id}/members", tag = "segments", params(("id" = String, Path, pattern = "^[a-z0-9_-]{1,64}$")),
    request_body(content((Option<String> = "text/csv"), (Option<String> = "application/x-ndjson")),
        description = "One user key per line, as CSV or JSON; an empty body adds nothing"),
    responses((status = 200, body = UploadSummary), (status = 422, body = UploadSummary),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn put_members(
    state: web::Data<AppState>,
    caller: Caller,
    request: RequestId,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let seg = writable(&state, &caller, &segment_id(&id)?).await?;
    stream_members(&state, &seg.id, payload, true)
        .await?
        .respond(
            &state,
            &caller,
            &request,
            Activity {
                action: "add_members",
                object_type: "segment",
                object_id: &seg.id,
                owner: seg.advertiser_id,
            },
        )
        .await
}

/// Remove the listed members, or every member when the body is empty.
#[utoipa::path(delete, path = "/v1/segments/{id}/members", tag = "segments", params(("id" = String, Path, pattern = "^[a-z0-9_-]{1,64}$")),
    request_body(content((Option<String> = "text/csv"), (Option<String> = "application/x-ndjson")),
        description = "One user key per line, as CSV or JSON; an empty body removes every member"),
    responses((status = 200, body = UploadSummary), (status = 422, body = UploadSummary),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_members(
    state: web::Data<AppState>,
    caller: Caller,
    request: RequestId,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let seg = writable(&state, &caller, &segment_id(&id)?).await?;
    stream_members(&state, &seg.id, payload, false)
        .await?
        .respond(
            &state,
            &caller,
            &request,
            Activity {
                action: "remove_members",
                object_type: "segment",
                object_id: &seg.id,
                owner: seg.advertiser_id,
            },
        )
        .await
}
