//! What the shared extractors mean for an OpenAPI document: the error responses every
//! operation of a kind can give, added where a handler's annotation did not list them, so the
//! document declares what the code answers.

use crate::ErrorBody;
use utoipa::openapi::{
    content::ContentBuilder,
    path::{Operation, ParameterIn},
    response::ResponseBuilder,
    security::SecurityRequirement,
    OpenApi, Ref, RefOr,
};
use utoipa::{Modify, PartialSchema, ToSchema};

/// Adds, to every operation: 401 when it needs a key (the [`crate::Caller`] extractor); 400,
/// 413 and 415 when it reads a JSON body ([`crate::JsonBody`]); 400 and 413 when it reads
/// another body; 400 when it takes query parameters; 404 when its path names something. Also
/// registers the `ErrorBody` and `ErrorCode` schemas those responses use.
#[derive(Debug, Clone, Copy, Default)]
pub struct DocumentedErrors;

impl Modify for DocumentedErrors {
    fn modify(&self, doc: &mut OpenApi) {
        let secured_by_default = doc
            .security
            .as_ref()
            .is_some_and(|s| !s.is_empty() && !s.contains(&SecurityRequirement::default()));
        for item in doc.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                document(op, secured_by_default);
            }
        }
        let components = doc.components.get_or_insert_with(Default::default);
        let mut schemas = Vec::new();
        ErrorBody::schemas(&mut schemas);
        schemas.push((ErrorBody::name().into_owned(), ErrorBody::schema()));
        for (name, schema) in schemas {
            components.schemas.entry(name).or_insert(schema);
        }
    }
}

fn document(op: &mut Operation, secured_by_default: bool) {
    let secured = match &op.security {
        None => secured_by_default,
        Some(reqs) => !reqs.is_empty() && !reqs.contains(&SecurityRequirement::default()),
    };
    let params = op.parameters.as_deref().unwrap_or_default();
    let has = |at: ParameterIn| params.iter().any(|p| p.parameter_in == at);
    let (query, path) = (has(ParameterIn::Query), has(ParameterIn::Path));
    let body = op
        .request_body
        .as_ref()
        .map(|b| b.content.keys().any(|ct| ct == "application/json"));
    let mut add = |status: &str, description: &str| {
        op.responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| error_response(description));
    };
    if secured {
        add("401", "No API key, or an unknown, revoked or expired one");
    }
    match body {
        Some(true) => {
            add(
                "400",
                "The body is not JSON, or a field is unknown, missing or of the wrong type",
            );
            add("413", "The body is too large");
            add("415", "The body is not `application/json`");
        }
        Some(false) => {
            add("400", "The body could not be read");
            add("413", "The body is too large");
        }
        None => {}
    }
    if query {
        add(
            "400",
            "A query parameter is unknown, malformed or out of bounds",
        );
    }
    if path {
        add("404", "No such object, or not one this key may see");
    }
}

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(ErrorBody::name())))
                .build(),
        )
        .build()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[derive(utoipa::OpenApi)]
    #[openapi(
        paths(secured_json, open_page),
        modifiers(&DocumentedErrors),
        security(("api_key" = []))
    )]
    struct Doc;

    #[utoipa::path(post, path = "/things/{id}", params(("id" = String, Path)),
        request_body = String, responses((status = 201)))]
    #[allow(dead_code)]
    fn secured_json() {}

    #[utoipa::path(get, path = "/open", security(()),
        params(crate::PageQuery), responses((status = 200)))]
    #[allow(dead_code)]
    fn open_page() {}

    fn statuses(doc: &Value, path: &str, method: &str) -> Vec<String> {
        let mut s: Vec<String> = doc["paths"][path][method]["responses"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        s.sort();
        s
    }

    #[test]
    fn errors_are_documented_by_what_the_operation_reads() {
        let doc = serde_json::to_value(<Doc as utoipa::OpenApi>::openapi()).unwrap();
        assert_eq!(
            statuses(&doc, "/things/{id}", "post"),
            ["201", "400", "401", "404", "413"]
        );
        assert_eq!(statuses(&doc, "/open", "get"), ["200", "400"]);
        let e = &doc["paths"]["/open"]["get"]["responses"]["400"]["content"]["application/json"];
        assert_eq!(e["schema"]["$ref"], "#/components/schemas/ErrorBody");
        assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
        assert!(doc["components"]["schemas"]["ErrorCode"]["enum"].is_array());
    }
}
