//! The OpenAPI 3 document, generated from the handlers' annotations and the domain types,
//! so it cannot drift from the code. `schemas/openapi/campaign-api.json` holds a copy that a
//! test compares with this one.

use crate::routes::*;
use endcap_web::openapi::DocumentedErrors;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The campaign API's document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Endcap campaign API", description = "Advertisers manage campaigns, line items and creatives. Authenticate with `Authorization: Bearer <key>`. Money is integer micros; times are RFC 3339 UTC. Errors are `{error, field, message}`."),
    modifiers(&BearerAuth, &DocumentedErrors),
    security(("api_key" = [])),
    paths(
        healthz, readyz, metrics, openapi_json, audit_log,
        create_advertiser, list_advertisers, get_advertiser, patch_advertiser, create_advertiser_key, create_staff_key, list_keys, revoke_key,
        create_campaign, list_campaigns, get_campaign, patch_campaign,
        create_line_item, list_line_items, get_line_item, patch_line_item,
        create_creative, list_creatives, get_creative, patch_creative, review_creative, delete_person,
        put_segment, get_segment, put_members, delete_members,
        upload_receipts, upload_identity_map, upload_catalog, upload_inventory,
        delivery_report, attribution_report, search_terms_report, explain_receipt, close_period, reverse_invalid_traffic,
    ),
)]
pub struct ApiDoc;

/// The document as pretty JSON with a trailing newline (the committed file's exact form).
pub fn document_json() -> Result<String, serde_json::Error> {
    let mut s = serde_json::to_string_pretty(&ApiDoc::openapi())?;
    s.push('\n');
    Ok(s)
}
