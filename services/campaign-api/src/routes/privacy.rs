//! Data-subject deletion: `POST /v1/privacy/deletions` (admin).

use crate::AppState;
use actix_web::{web, HttpResponse};
use endcap_core::{HashedKey, ValidationError};
use endcap_web::{ApiError, Caller, ErrorBody, JsonBody};
use serde::{Deserialize, Serialize};

/// Body of `POST /v1/privacy/deletions`: the person, by a hashed user key, a hashed customer
/// key, or both.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeletionInput {
    /// A device's user key (64 hex).
    #[schema(pattern = "^[0-9a-fA-F]{64}$")]
    pub user_key: Option<String>,
    /// A customer key (64 hex), as receipts carry it.
    #[schema(pattern = "^[0-9a-fA-F]{64}$")]
    pub customer_key: Option<String>,
}

/// What a deletion did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeletionDone {
    /// User keys forgotten (the one asked for and those linked to the customer).
    pub user_keys: usize,
    /// Customer keys forgotten.
    pub customer_keys: usize,
    /// Identity links removed from the campaign store.
    pub identity_links_removed: u64,
    /// Segment memberships removed.
    pub segment_memberships_removed: usize,
    /// ClickHouse table.column pairs a deletion was started in (mutations finish in the
    /// background); empty on the file event log.
    pub clickhouse: Vec<String>,
    /// Lines removed from the file event log (0 with ClickHouse).
    pub file_lines_removed: u64,
    /// Where the event log is: `clickhouse`, or `files`.
    pub event_log: &'static str,
}

/// Forgets a person everywhere Endcap keeps them: every user key linked to them, in the
/// identity map, in every segment, and in every ClickHouse table keyed by user or customer
/// (decision log, impressions, clicks, ghosts, conversions, receipts, attribution). Audited
/// without naming the keys. The next attribution run no longer sees them.
#[utoipa::path(post, path = "/v1/privacy/deletions", tag = "privacy", request_body = DeletionInput,
    responses((status = 202, body = DeletionDone), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn delete_person(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.admin()?;
    let input: DeletionInput = body.parse()?;
    let parse = |v: &Option<String>, field: &str| {
        v.as_deref()
            .map(|k| HashedKey::parse(k, field).map(|k| k.as_str().to_string()))
            .transpose()
    };
    let user = parse(&input.user_key, "user_key")?;
    let customer = parse(&input.customer_key, "customer_key")?;
    if user.is_none() && customer.is_none() {
        return Err(
            ValidationError::new("user_key", "send a user_key, a customer_key or both").into(),
        );
    }
    let done = forget(&state, user, customer).await?;
    Ok(HttpResponse::Accepted().json(done))
}

async fn forget(
    state: &AppState,
    user: Option<String>,
    customer: Option<String>,
) -> Result<DeletionDone, ApiError> {
    let mut customers: Vec<String> = customer.into_iter().collect();
    let mut users: Vec<String> = user.into_iter().collect();
    if let Some(u) = users.first().cloned() {
        if let Some(c) = state.store.customer_key(&u).await? {
            if !customers.contains(&c) {
                customers.push(c);
            }
        }
    }
    for c in customers.clone() {
        for u in state.store.user_keys_of(&c).await? {
            if !users.contains(&u) {
                users.push(u);
            }
        }
    }
    let mut memberships = 0;
    for u in &users {
        let segments = state
            .segments
            .segments_of(u)
            .await
            .map_err(|e| ApiError::internal(&e))?;
        for seg in segments.iter() {
            memberships += state
                .segments
                .remove_members(seg, std::slice::from_ref(u))
                .await
                .map_err(|e| ApiError::internal(&e))?;
        }
    }
    let (clickhouse, file_lines_removed, event_log) = match (&state.clickhouse, &state.event_dir) {
        (Some(cfg), _) => (
            endcap_events::delete_people(cfg, &users, &customers)
                .await
                .map_err(|e| ApiError::internal(&e))?,
            0,
            "clickhouse",
        ),
        (None, dir) => {
            // What this process still holds is written first, so it is deleted too.
            state.sink.flush().await;
            let removed = match dir.clone() {
                Some(dir) => {
                    let (u, c) = (users.clone(), customers.clone());
                    tokio::task::spawn_blocking(move || {
                        endcap_events::delete_people_from_files(&dir, &u, &c)
                    })
                    .await
                    .map_err(|e| ApiError::internal(&e))?
                    .map_err(|e| ApiError::internal(&e))?
                }
                None => Vec::new(),
            };
            (Vec::new(), removed.iter().map(|(_, n)| n).sum(), "files")
        }
    };
    let mut done = DeletionDone {
        user_keys: users.len(),
        customer_keys: customers.len(),
        identity_links_removed: 0,
        segment_memberships_removed: memberships,
        clickhouse,
        file_lines_removed,
        event_log,
    };
    done.identity_links_removed = state
        .store
        .forget_people(
            "privacy",
            &users,
            &customers,
            serde_json::to_value(&done).unwrap_or_default(),
        )
        .await?;
    Ok(done)
}
