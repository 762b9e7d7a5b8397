//! Finance reports, the attribution explanation of a receipt, and month-end close.

use crate::AppState;
use actix_web::{web, HttpResponse};
use endcap_core::{AdvertiserId, Campaign, CampaignId, Role};
use endcap_reports::{Query, Report, ReportError};
use endcap_web::{ApiError, Caller, ErrorBody, ErrorCode, ValidQuery};
use serde::Deserialize;

/// Declares a report's query parameters: the same for every report but `group_by`, whose
/// documented pattern names the dimensions that report has.
macro_rules! report_params {
    ($(#[$doc:meta])* $name:ident, $group_by:literal) => {
        $(#[$doc])*
        #[derive(Debug, Deserialize, utoipa::IntoParams)]
        #[serde(deny_unknown_fields)]
        #[into_params(parameter_in = Query)]
        pub struct $name {
            /// First day, `YYYY-MM-DD` in the retailer's time zone.
            #[param(required = true, nullable = false, value_type = String, format = Date)]
            pub from: Option<String>,
            /// Last day, inclusive (at most 366 days after `from`).
            #[param(required = true, nullable = false, value_type = String, format = Date)]
            pub to: Option<String>,
            /// Dimensions, comma-separated, each once (empty: one total row). Default
            /// `campaign`.
            #[param(nullable = false, pattern = $group_by)]
            pub group_by: Option<String>,
            /// `json` (default) or `csv`.
            #[param(nullable = false, pattern = "^(json|csv)$")]
            pub format: Option<String>,
            /// Attribution model whose results are read (default last_touch).
            #[param(nullable = false, pattern = "^(last_touch|first_touch|linear|time_decay|position)$")]
            pub model: Option<String>,
            /// Only this advertiser (an advertiser key: its own only).
            #[param(nullable = false, value_type = Option<String>, format = Uuid)]
            pub advertiser_id: Option<AdvertiserId>,
            /// Only this campaign.
            #[param(nullable = false, value_type = Option<String>, format = Uuid)]
            pub campaign_id: Option<CampaignId>,
        }

        impl $name {
            fn common(&self) -> Params<'_> {
                Params {
                    from: self.from.as_deref(),
                    to: self.to.as_deref(),
                    group_by: self.group_by.as_deref(),
                    format: self.format.as_deref(),
                    model: self.model.as_deref(),
                    advertiser_id: self.advertiser_id,
                    campaign_id: self.campaign_id,
                }
            }
        }
    };
}

report_params!(
    /// Query of the delivery report.
    DeliveryParams,
    "^((advertiser|campaign|line_item|day|ad_channel)(,(advertiser|campaign|line_item|day|ad_channel))*)?$"
);

report_params!(
    /// Query of the attribution report.
    AttributionParams,
    "^((advertiser|campaign|line_item|day|ad_channel|sales_channel)(,(advertiser|campaign|line_item|day|ad_channel|sales_channel))*)?$"
);

report_params!(
    /// Query of the search-term report.
    SearchTermParams,
    "^((advertiser|campaign|line_item|day|ad_channel)(,(advertiser|campaign|line_item|day|ad_channel))*)?$"
);

/// What every report's query carries.
struct Params<'a> {
    from: Option<&'a str>,
    to: Option<&'a str>,
    group_by: Option<&'a str>,
    format: Option<&'a str>,
    model: Option<&'a str>,
    advertiser_id: Option<AdvertiserId>,
    campaign_id: Option<CampaignId>,
}

/// Maps a report failure to the error envelope.
fn report_error(e: ReportError) -> ApiError {
    match e {
        ReportError::Invalid(field, reason) => {
            ApiError::new(ErrorCode::InvalidParameter, Some(field), reason)
        }
        // Well-formed, but a rule says no: the document cannot state it, so it is a 422.
        ReportError::Refused(field, reason) => {
            ApiError::new(ErrorCode::InvalidField, Some(field), reason)
        }
        ReportError::Store(s) => ApiError::from(s),
        other => {
            tracing::error!(error = %other, "report failed");
            ApiError::new(
                ErrorCode::ReportsUnavailable,
                None,
                "the event log could not answer; retry later",
            )
        }
    }
}

fn finance(state: &AppState) -> Result<&endcap_reports::Finance, ApiError> {
    state.finance.as_deref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::ReportsUnavailable,
            None,
            "finance reports read ClickHouse; start the service with ENDCAP_CLICKHOUSE",
        )
    })
}

/// Parses the request and applies who may see what: an advertiser key sees only its own
/// advertiser's figures, and another advertiser's or campaign's id answers 404.
async fn query(state: &AppState, caller: &Caller, p: &Params<'_>) -> Result<Query, ApiError> {
    let advertiser = caller.listing_scope(p.advertiser_id)?;
    if let Some(c) = p.campaign_id {
        let campaign: Campaign = state.store.get(&c.to_string()).await?;
        if !caller.0.can_read(campaign.advertiser_id)
            || advertiser.is_some_and(|a| a != campaign.advertiser_id)
        {
            return Err(ApiError::not_found("campaign"));
        }
    }
    let mut q = Query::parse(
        p.from,
        p.to,
        p.group_by,
        p.model,
        advertiser.map(|a| a.as_uuid()),
        p.campaign_id.map(|c| c.as_uuid()),
    )
    .map_err(report_error)?;
    q.privacy = caller.0.role == Role::Advertiser;
    Ok(q)
}

/// JSON, or CSV streamed line by line.
fn respond(report: Report, format: Option<&str>) -> Result<HttpResponse, ApiError> {
    match format.unwrap_or("json") {
        "json" => Ok(HttpResponse::Ok().json(report)),
        "csv" => {
            let through = report
                .freshness
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            let name = format!("{}_{}_{}.csv", report.report, report.from, report.to);
            let lines: Vec<Result<web::Bytes, ApiError>> = report
                .csv_lines()
                .map(|l| Ok(web::Bytes::from(l)))
                .collect();
            Ok(HttpResponse::Ok()
                .content_type("text/csv; charset=utf-8")
                .insert_header((
                    "Content-Disposition",
                    format!("attachment; filename=\"{name}\""),
                ))
                .insert_header(("X-Endcap-Complete-Through", through))
                .insert_header(("X-Endcap-Dated-By", report.dated_by.clone()))
                .streaming(futures_util::stream::iter(lines)))
        }
        _ => Err(ApiError::new(
            ErrorCode::InvalidParameter,
            Some("format".into()),
            "use json or csv",
        )),
    }
}

/// Which report.
enum Kind {
    Delivery,
    Attribution,
    SearchTerms,
}

/// Parses, makes the report, answers it.
async fn report(
    state: &AppState,
    caller: &Caller,
    p: &Params<'_>,
    kind: Kind,
) -> Result<HttpResponse, ApiError> {
    let q = query(state, caller, p).await?;
    let f = finance(state)?;
    let report = match kind {
        Kind::Delivery => f.delivery(&state.store, &q).await,
        Kind::Attribution => f.attribution(&state.store, &q).await,
        Kind::SearchTerms => f.search_terms(&q).await,
    }
    .map_err(report_error)?;
    respond(report, p.format)
}

/// Delivery: impressions, clicks, CTR, advertiser charge, media cost, CPC. Spend is the
/// ledger's billable rows by accounting date; closed months show their frozen figures.
#[utoipa::path(get, path = "/v1/reports/delivery", tag = "reports", params(DeliveryParams),
    responses((status = 200), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn delivery_report(
    state: web::Data<AppState>,
    caller: Caller,
    p: ValidQuery<DeliveryParams>,
) -> Result<HttpResponse, ApiError> {
    report(&state, &caller, &p.0.common(), Kind::Delivery).await
}

/// Attribution: attributed orders, units and sales (gross, returns, net; direct and halo;
/// new-to-brand), ROAS, and with `group_by=campaign` lift and iROAS with their intervals.
#[utoipa::path(get, path = "/v1/reports/attribution", tag = "reports", params(AttributionParams),
    responses((status = 200), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn attribution_report(
    state: web::Data<AppState>,
    caller: Caller,
    p: ValidQuery<AttributionParams>,
) -> Result<HttpResponse, ApiError> {
    report(&state, &caller, &p.0.common(), Kind::Attribution).await
}

/// Search terms: which shopper searches matched which keyword (and match type), with
/// impressions, clicks, CTR, advertiser charge, CPC, attributed sales and ROAS, dated by the
/// search. For advertisers, terms made by fewer shoppers than the privacy minimum
/// (`ENDCAP_PRIVACY_MIN_CUSTOMERS`) are grouped as `(other)`.
#[utoipa::path(get, path = "/v1/reports/search-terms", tag = "reports", params(SearchTermParams),
    responses((status = 200), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn search_terms_report(
    state: web::Data<AppState>,
    caller: Caller,
    p: ValidQuery<SearchTermParams>,
) -> Result<HttpResponse, ApiError> {
    report(&state, &caller, &p.0.common(), Kind::SearchTerms).await
}

/// Query of the receipt explanation.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExplainParams {
    /// Attribution model (default last_touch).
    #[param(
        nullable = false,
        pattern = "^(last_touch|first_touch|linear|time_decay|position)$"
    )]
    pub model: Option<String>,
}

fn staff(caller: &Caller) -> Result<(), ApiError> {
    match caller.0.role {
        Role::Admin | Role::Finance => Ok(()),
        // It names a customer's purchases: not for advertisers, and not even its existence.
        Role::Advertiser => Err(ApiError::not_found("route")),
    }
}

/// Why each line of a receipt was credited: exposures, rule, lag, model, settings version
/// (admin and finance only: it names a customer's purchases).
#[utoipa::path(get, path = "/v1/reports/attribution/receipts/{receipt_id}", tag = "reports",
    params(("receipt_id" = String, Path), ExplainParams),
    responses((status = 200), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn explain_receipt(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    p: ValidQuery<ExplainParams>,
) -> Result<HttpResponse, ApiError> {
    staff(&caller)?;
    let model = p.0.model.unwrap_or_else(|| "last_touch".into());
    endcap_reports::check_model(&model).map_err(report_error)?;
    let lines = finance(&state)?
        .explain(&path.into_inner(), &model)
        .await
        .map_err(report_error)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "model": model, "credits": lines })))
}

/// Closes an accounting month (`YYYY-MM`, admin and finance): its delivery figures freeze,
/// and what arrives for it later is posted to the next open month as adjustments.
#[utoipa::path(post, path = "/v1/periods/{period}/close", tag = "reports",
    params(("period" = String, Path, pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$")),
    responses((status = 201), (status = 200), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn close_period(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    staff(&caller)?;
    let today = chrono::Utc::now()
        .with_timezone(&state.time_zone)
        .date_naive();
    let (closed_now, totals) = finance(&state)?
        .close(&state.store, &path.into_inner(), &caller.actor(), today)
        .await
        .map_err(report_error)?;
    let body = serde_json::json!({ "closed_now": closed_now, "frozen": totals });
    Ok(if closed_now {
        HttpResponse::Created().json(body)
    } else {
        HttpResponse::Ok().json(body)
    })
}

/// Body of `POST /v1/invalid-traffic`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvalidTrafficInput {
    /// The decisions whose traffic was found invalid (1 to 1,000).
    #[schema(value_type = Vec<String>, min_items = 1, max_items = 1000)]
    pub decision_ids: Vec<endcap_core::DecisionId>,
    /// Why, for the audit log (1 to 500 characters).
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

/// What a reversal did.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct InvalidTrafficDone {
    /// Decisions named.
    pub decisions: usize,
    /// Billed charges taken back (a decision reversed before is not taken back again).
    pub charges_reversed: usize,
    /// What the advertisers are credited, micros.
    pub credit_micros: i64,
}

/// Takes back what decisions were billed once their traffic is found invalid (admin): each
/// billed charge gets a `reversed_invalid` ledger row of the opposite amount on its own
/// accounting day; a closed month's shows up as a credit in the next open month's
/// adjustments. Audited with the reason and the request id.
#[utoipa::path(post, path = "/v1/invalid-traffic", tag = "reports", request_body = InvalidTrafficInput,
    responses((status = 200, body = InvalidTrafficDone), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn reverse_invalid_traffic(
    state: web::Data<AppState>,
    caller: Caller,
    request: endcap_web::RequestId,
    body: endcap_web::JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.admin()?;
    let input: InvalidTrafficInput = body.parse()?;
    let reason = input.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(
            endcap_core::ValidationError::new("reason", "say why, in 1 to 500 characters").into(),
        );
    }
    let ids: Vec<_> = input.decision_ids.iter().map(|d| d.as_uuid()).collect();
    let done = finance(&state)?
        .reverse_invalid(
            &state.store,
            &state.sink,
            &caller.actor(),
            &request.0,
            &ids,
            reason,
        )
        .await
        .map_err(report_error)?;
    Ok(HttpResponse::Ok().json(InvalidTrafficDone {
        decisions: done.decisions,
        charges_reversed: done.charges_reversed,
        credit_micros: done.credit_micros,
    }))
}
