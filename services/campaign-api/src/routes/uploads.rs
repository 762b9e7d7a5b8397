//! Bulk uploads: receipts, identity links, catalog and segment members, streamed line by
//! line. Bad lines are reported with their numbers; good lines are kept.

use crate::AppState;
use actix_web::{http::StatusCode, web, HttpResponse};
use endcap_core::Receipt;
use endcap_events::EventSink;
use endcap_ingest::{LineError, Lines};
use endcap_web::{ApiError, Caller, ErrorBody, ErrorCode, RequestId};
use futures_util::StreamExt;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// Largest upload accepted in one request (the CLI sends big files in parts).
pub const MAX_UPLOAD_BYTES: usize = 64 * 1024 * 1024;
/// Lines handled per batch.
const BATCH: usize = 5_000;
/// Line errors listed in a response (the count covers all).
const MAX_LISTED_ERRORS: usize = 100;

/// What an upload did.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct UploadSummary {
    /// Records stored.
    pub accepted: u64,
    /// Records refused (see `errors`).
    pub rejected: u64,
    /// Records already stored before, counted once.
    pub duplicates: u64,
    /// The first refused lines, with reasons.
    #[schema(value_type = Vec<Object>)]
    pub errors: Vec<LineError>,
    /// True when more lines were refused than `errors` lists.
    pub errors_truncated: bool,
}

impl UploadSummary {
    /// A parsed line's record, if any: a refused line is counted and listed instead (an
    /// empty line, `Ok(None)`, is neither).
    pub(crate) fn keep<T>(&mut self, parsed: Result<Option<T>, LineError>) -> Option<T> {
        parsed.unwrap_or_else(|e| {
            self.reject(e);
            None
        })
    }

    pub(crate) fn reject(&mut self, e: LineError) {
        self.rejected += 1;
        if self.errors.len() < MAX_LISTED_ERRORS {
            self.errors.push(e);
        } else {
            self.errors_truncated = true;
        }
    }

    /// Audits the upload (who, what, the counts and the request id; never the records) and
    /// answers 200 with the summary, or 422 when every record was refused.
    pub(crate) async fn respond(
        self,
        state: &AppState,
        caller: &Caller,
        request: &RequestId,
        what: Activity<'_>,
    ) -> Result<HttpResponse, ApiError> {
        let detail = serde_json::json!({
            "request_id": request.0,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
        });
        state
            .store
            .record_activity(
                &caller.actor(),
                what.action,
                what.object_type,
                what.object_id,
                what.owner,
                &detail,
            )
            .await?;
        Ok(self.into_response())
    }

    /// 200 with the summary, or 422 when every record was refused.
    fn into_response(self) -> HttpResponse {
        // Everything refused: the upload as a whole is bad input.
        let status = if self.accepted == 0 && self.duplicates == 0 && self.rejected > 0 {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        };
        HttpResponse::build(status).json(self)
    }
}

/// What an upload changed, for its audit record.
pub(crate) struct Activity<'a> {
    /// `upload`, `add_members`, `remove_members`.
    pub action: &'a str,
    /// `receipts`, `identity_map`, `catalog`, `segment`.
    pub object_type: &'a str,
    /// The segment id, or the upload's own kind.
    pub object_id: &'a str,
    /// The advertiser owning the object, when one does.
    pub owner: Option<endcap_core::AdvertiserId>,
}

impl Activity<'_> {
    /// A bulk upload of one kind (`receipts`, `identity_map`, `catalog`), owned by no
    /// advertiser.
    pub(crate) fn upload(kind: &'static str) -> Activity<'static> {
        Activity {
            action: "upload",
            object_type: kind,
            object_id: kind,
            owner: None,
        }
    }
}

/// Reads a request body as numbered lines, a batch at a time, skipping blank lines.
pub(crate) struct LineBatches {
    payload: web::Payload,
    lines: Lines,
    pending: Vec<(u64, String)>,
    bytes: usize,
    done: bool,
}

impl LineBatches {
    pub(crate) fn new(payload: web::Payload) -> Self {
        Self {
            payload,
            lines: Lines::default(),
            pending: Vec::new(),
            bytes: 0,
            done: false,
        }
    }

    /// Up to [`BATCH`] lines; empty at the end.
    pub(crate) async fn next(&mut self) -> Result<Vec<(u64, String)>, ApiError> {
        while self.pending.len() < BATCH && !self.done {
            match self.payload.next().await {
                Some(chunk) => {
                    let chunk = chunk.map_err(|e| {
                        ApiError::new(
                            ErrorCode::UnreadableBody,
                            None,
                            format!("could not read the body: {e}"),
                        )
                    })?;
                    self.bytes += chunk.len();
                    if self.bytes > MAX_UPLOAD_BYTES {
                        return Err(ApiError::new(
                            ErrorCode::BodyTooLarge,
                            None,
                            format!("send at most {MAX_UPLOAD_BYTES} bytes per request; endcap-ingest splits files"),
                        ));
                    }
                    self.pending.extend(self.lines.feed(&chunk));
                }
                None => {
                    self.pending.extend(self.lines.finish());
                    self.done = true;
                }
            }
        }
        self.pending.retain(|(_, l)| !endcap_ingest::is_blank(l));
        let n = self.pending.len().min(BATCH);
        Ok(self.pending.drain(..n).collect())
    }
}

/// Ingest receipts (NDJSON, one receipt per line; admin). The same receipt id and version
/// counts once; a higher version replaces the receipt; good lines are kept when others fail.
#[utoipa::path(post, path = "/v1/receipts", tag = "uploads",
    request_body(content((Option<String> = "application/x-ndjson")),
        description = "One receipt per line, as JSON; an empty body stores nothing"),
    responses((status = 200, body = UploadSummary), (status = 422, body = UploadSummary),
        (status = 403, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn upload_receipts(
    state: web::Data<AppState>,
    caller: Caller,
    request: RequestId,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.admin()?;
    let salt = state
        .customer_key_salt
        .as_ref()
        .map(endcap_core::Secret::expose);
    let tz = state.time_zone;
    let mut summary = UploadSummary::default();
    let mut seen: HashMap<String, (i64, String)> = HashMap::new();
    let mut batches = LineBatches::new(payload);
    loop {
        let batch = batches.next().await?;
        if batch.is_empty() {
            break;
        }
        let mut parsed: Vec<(u64, Receipt, String)> = Vec::new();
        for (n, line) in batch {
            match endcap_ingest::parse_receipt(n, &line, salt, tz) {
                Ok(r) => {
                    let h = endcap_ingest::receipt_hash(&r);
                    parsed.push((n, r, h));
                }
                Err(e) => summary.reject(e),
            }
        }
        let ids: Vec<String> = parsed
            .iter()
            .map(|(_, r, _)| r.receipt_id.clone())
            .collect();
        let ledger = state.store.receipt_ledger(&ids).await?;
        let mut accepted: Vec<(Receipt, String)> = Vec::new();
        for (n, r, h) in parsed {
            let known = seen.get(&r.receipt_id).cloned().or_else(|| {
                ledger
                    .get(&r.receipt_id)
                    .map(|l| (l.version, l.content_hash.clone()))
            });
            match known {
                Some((v, _)) if r.version < v => summary.reject(LineError {
                    line: n,
                    field: Some("version".into()),
                    reason: format!("version {} is older than the stored version {v}", r.version),
                }),
                Some((v, kh)) if r.version == v && kh == h => summary.duplicates += 1,
                Some((v, _)) if r.version == v => summary.reject(LineError {
                    line: n,
                    field: Some("version".into()),
                    reason: format!("receipt already stored at version {v} with other content; send a higher version to correct it"),
                }),
                _ => {
                    seen.insert(r.receipt_id.clone(), (r.version, h.clone()));
                    accepted.push((r, h));
                }
            }
        }
        let skus: Vec<String> = accepted
            .iter()
            .flat_map(|(r, _)| r.lines.iter().map(|l| l.sku.as_str().to_string()))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let catalog = state.store.catalog(&skus).await?;
        for (r, _) in &accepted {
            for ev in endcap_ingest::receipt_events(r, &catalog) {
                state.sink.send(ev);
            }
        }
        // The ledger is written only once the lines are durable (written or spooled), so a
        // crash in between makes a retry re-send, never skip, a receipt.
        let dropped_before = endcap_events::SinkMetrics::get(&state.sink.metrics().dropped);
        state.sink.flush().await;
        if endcap_events::SinkMetrics::get(&state.sink.metrics().dropped) != dropped_before {
            // Neither written nor spooled: recording them would make a retry a "duplicate".
            return Err(ApiError::new(
                ErrorCode::EventLogUnavailable,
                None,
                "the event log could not store the receipts; nothing was recorded, retry later",
            ));
        }
        let entries: Vec<(String, i64, String)> = accepted
            .iter()
            .map(|(r, h)| (r.receipt_id.clone(), r.version, h.clone()))
            .collect();
        state.store.record_receipts(&entries).await?;
        summary.accepted += accepted.len() as u64;
    }
    summary
        .respond(&state, &caller, &request, Activity::upload("receipts"))
        .await
}

/// Upload identity links, online user key (or an external id) to customer key (NDJSON or
/// CSV; admin).
#[utoipa::path(post, path = "/v1/identity-map", tag = "uploads",
    request_body(content((Option<String> = "application/x-ndjson"), (Option<String> = "text/csv")),
        description = "One record per line, as JSON or CSV; an empty body stores nothing. JSON: \
            `{\"user_key\", \"customer_key\" | \"loyalty_id\"}` (SHA-256 hex user key), or an external id \
            `{\"source\", \"external_id\", \"customer_key\" | \"loyalty_id\"}`: `source` is the OpenRTB \
            `user.eids[].source` domain (`uidapi.com` for UID2, `liveramp.com` for RampID, 1-100 of \
            letters, digits, `.`, `-`) and `external_id` the id as bid requests carry it (1-512 bytes), \
            keyed on arrival with ENDCAP_USER_KEY_SALT and never stored raw; a bid request carrying \
            that eid is then served as the customer. CSV: `user_key,customer_key`, or \
            `user_key,customer_key,source,external_id` with `user_key` empty for external ids."),
    responses((status = 403, body = ErrorBody), (status = 200, body = UploadSummary), (status = 422, body = UploadSummary)))]
pub async fn upload_identity_map(
    state: web::Data<AppState>,
    caller: Caller,
    request: RequestId,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.admin()?;
    let salt = state
        .customer_key_salt
        .as_ref()
        .map(endcap_core::Secret::expose);
    let mut summary = UploadSummary::default();
    let mut batches = LineBatches::new(payload);
    loop {
        let batch = batches.next().await?;
        if batch.is_empty() {
            break;
        }
        let links: Vec<_> = batch
            .into_iter()
            .filter_map(|(n, line)| {
                summary.keep(endcap_ingest::parse_identity(
                    n,
                    &line,
                    salt,
                    state.user_key_salt.expose(),
                ))
            })
            .collect();
        // The store's copy is what the ad server reads at decision time (the holdout unit is
        // the shopper); the event log keeps the history.
        let pairs: Vec<(String, String)> = links
            .iter()
            .map(|l| (l.user_key.clone(), l.customer_key.clone()))
            .collect();
        state.store.upsert_identity(&pairs).await?;
        for link in links {
            state.sink.send(endcap_events::Event::Identity(link));
            summary.accepted += 1;
        }
    }
    state.sink.flush().await;
    summary
        .respond(&state, &caller, &request, Activity::upload("identity_map"))
        .await
}

/// Upload catalog entries: SKU, brand, category (NDJSON or CSV; admin).
#[utoipa::path(post, path = "/v1/catalog", tag = "uploads",
    request_body(content((Option<String> = "application/x-ndjson"), (Option<String> = "text/csv")),
        description = "One record per line, as JSON or CSV; an empty body stores nothing"),
    responses((status = 403, body = ErrorBody), (status = 200, body = UploadSummary), (status = 422, body = UploadSummary)))]
pub async fn upload_catalog(
    state: web::Data<AppState>,
    caller: Caller,
    request: RequestId,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.admin()?;
    let mut summary = UploadSummary::default();
    let mut batches = LineBatches::new(payload);
    loop {
        let batch = batches.next().await?;
        if batch.is_empty() {
            break;
        }
        let items: Vec<_> = batch
            .into_iter()
            .filter_map(|(n, line)| summary.keep(endcap_ingest::parse_catalog(n, &line)))
            .collect();
        summary.accepted += state.store.upsert_catalog(&items).await? as u64;
    }
    summary
        .respond(&state, &caller, &request, Activity::upload("catalog"))
        .await
}

/// Upload per-store availability: `sku,store_id,in_stock` (NDJSON or CSV; admin). A SKU out
/// of stock at a store is not advertised to shoppers there; unknown availability means in
/// stock, and a later `in_stock: true` line lifts a stock-out.
#[utoipa::path(post, path = "/v1/inventory", tag = "uploads",
    request_body(content((Option<String> = "application/x-ndjson"), (Option<String> = "text/csv")),
        description = "One `{sku, store_id, in_stock}` per line, as JSON or CSV `sku,store_id,in_stock`; an empty body stores nothing"),
    responses((status = 403, body = ErrorBody), (status = 200, body = UploadSummary), (status = 422, body = UploadSummary)))]
pub async fn upload_inventory(
    state: web::Data<AppState>,
    caller: Caller,
    request: RequestId,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.admin()?;
    let mut summary = UploadSummary::default();
    let mut batches = LineBatches::new(payload);
    loop {
        let batch = batches.next().await?;
        if batch.is_empty() {
            break;
        }
        let facts: Vec<_> = batch
            .into_iter()
            .filter_map(|(n, line)| summary.keep(endcap_ingest::parse_availability(n, &line)))
            .map(|(sku, store_id, in_stock)| endcap_store::Availability {
                sku,
                store_id,
                in_stock,
            })
            .collect();
        summary.accepted += state.store.set_availability(&facts).await? as u64;
    }
    summary
        .respond(&state, &caller, &request, Activity::upload("inventory"))
        .await
}
