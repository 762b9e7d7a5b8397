//! The role and tenant matrix: every role against every endpoint.

use crate::helpers::*;
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug)]
enum Who {
    Admin,
    Owner,
    OtherAdvertiser,
    Finance,
    Anonymous,
    WrongKey,
}

const EVERYONE: [Who; 6] = [
    Who::Admin,
    Who::Owner,
    Who::OtherAdvertiser,
    Who::Finance,
    Who::Anonymous,
    Who::WrongKey,
];

/// Expected status for (admin, owner, other advertiser, finance); anonymous and wrong keys
/// always get 401.
struct Row {
    method: &'static str,
    path: String,
    body: Option<Value>,
    /// Path of the object whose current version a PATCH must carry.
    versioned: Option<String>,
    expect: [u16; 4],
}

async fn every_role_meets_every_endpoint(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, owner_key) = app.advertiser("Owner").await;
    let (_b, other_key) = app.advertiser("Other").await;
    let finance_key = app.staff_key("finance").await;
    let c = app.campaign(&owner_key, &a).await;
    let l = app.line_item(&owner_key, &c).await;
    let k = app.creative(&owner_key, &l).await;

    let row = |method, path: String, body: Option<Value>, expect| Row {
        method,
        path,
        body,
        versioned: None,
        expect,
    };
    let rows = vec![
        row(
            "POST",
            "/v1/advertisers".into(),
            Some(json!({"name": "N", "currency": "USD"})),
            [201, 403, 403, 403],
        ),
        row("GET", "/v1/advertisers".into(), None, [200, 200, 200, 200]),
        row(
            "GET",
            format!("/v1/advertisers/{a}"),
            None,
            [200, 200, 404, 200],
        ),
        row(
            "POST",
            format!("/v1/advertisers/{a}/api-keys"),
            Some(json!({})),
            [201, 201, 404, 403],
        ),
        row(
            "POST",
            "/v1/api-keys".into(),
            Some(json!({"role": "finance"})),
            [201, 403, 403, 403],
        ),
        row(
            "POST",
            "/v1/campaigns".into(),
            Some(campaign_body(&a)),
            [201, 201, 404, 403],
        ),
        row(
            "GET",
            format!("/v1/campaigns?advertiser_id={a}"),
            None,
            [200, 200, 404, 200],
        ),
        row(
            "GET",
            format!("/v1/campaigns/{c}"),
            None,
            [200, 200, 404, 200],
        ),
        Row {
            versioned: Some(format!("/v1/campaigns/{c}")),
            ..row(
                "PATCH",
                format!("/v1/campaigns/{c}"),
                Some(json!({"name": "Renamed"})),
                [200, 200, 404, 403],
            )
        },
        row(
            "POST",
            format!("/v1/campaigns/{c}/line-items"),
            Some(line_item_body()),
            [201, 201, 404, 403],
        ),
        row(
            "GET",
            format!("/v1/campaigns/{c}/line-items"),
            None,
            [200, 200, 404, 200],
        ),
        row(
            "GET",
            format!("/v1/line-items/{l}"),
            None,
            [200, 200, 404, 200],
        ),
        Row {
            versioned: Some(format!("/v1/line-items/{l}")),
            ..row(
                "PATCH",
                format!("/v1/line-items/{l}"),
                Some(json!({"name": "Renamed"})),
                [200, 200, 404, 403],
            )
        },
        row(
            "POST",
            format!("/v1/line-items/{l}/creatives"),
            Some(creative_body()),
            [201, 201, 404, 403],
        ),
        row(
            "GET",
            format!("/v1/line-items/{l}/creatives"),
            None,
            [200, 200, 404, 200],
        ),
        row(
            "GET",
            format!("/v1/creatives/{k}"),
            None,
            [200, 200, 404, 200],
        ),
        row(
            "GET",
            format!("/v1/audit-log?advertiser_id={a}"),
            None,
            [200, 200, 404, 200],
        ),
    ];

    let mut failures = Vec::new();
    for r in &rows {
        for who in EVERYONE {
            let (key, want) = match who {
                Who::Admin => (Some(ADMIN_KEY), r.expect[0]),
                Who::Owner => (Some(owner_key.as_str()), r.expect[1]),
                Who::OtherAdvertiser => (Some(other_key.as_str()), r.expect[2]),
                Who::Finance => (Some(finance_key.as_str()), r.expect[3]),
                Who::Anonymous => (None, 401),
                Who::WrongKey => (Some("ek_not-a-key-at-all"), 401),
            };
            let mut body = r.body.clone();
            if let (Some(p), Some(b)) = (&r.versioned, body.as_mut()) {
                let cur = app.get(p, ADMIN_KEY).await;
                b["version"] = cur.body["version"].clone();
            }
            let before = app.audit_count().await;
            let res = app.send(r.method, &r.path, key, body.as_ref()).await;
            let after = app.audit_count().await;
            if res.status != want {
                failures.push(format!(
                    "{:?} {} {} -> {} (want {want}): {}",
                    who, r.method, r.path, res.status, res.text
                ));
            }
            if res.status >= 400 && after != before {
                failures.push(format!(
                    "{:?} {} {} failed but wrote to the audit log",
                    who, r.method, r.path
                ));
            }
            if res.status >= 400 && res.error().is_none() {
                failures.push(format!(
                    "{:?} {} {}: error without the JSON envelope",
                    who, r.method, r.path
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "access matrix failures:\n{}",
        failures.join("\n")
    );
}

async fn an_advertiser_lists_only_its_own_objects(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, ka) = app.advertiser("A").await;
    let (b, kb) = app.advertiser("B").await;
    app.campaign(&ka, &a).await;
    app.campaign(&kb, &b).await;
    for (key, own) in [(&ka, &a), (&kb, &b)] {
        let cs = app.get("/v1/campaigns", key).await;
        let items = cs.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["advertiser_id"], own.as_str());
        let advs = app.get("/v1/advertisers", key).await;
        assert_eq!(advs.body["items"].as_array().unwrap().len(), 1);
    }
    let all = app.get("/v1/campaigns", ADMIN_KEY).await;
    assert_eq!(all.body["items"].as_array().unwrap().len(), 2);
}

async fn keys_are_listed_by_prefix_revoked_at_once_and_expire(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a_id, a_key) = app.advertiser("A").await;
    let (_, b_key) = app.advertiser("B").await;
    // A second key for A, expiring in two seconds.
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let k = app
        .post(
            &format!("/v1/advertisers/{a_id}/api-keys"),
            &a_key,
            json!({"label": "short-lived", "expires_at": soon}),
        )
        .await;
    assert_eq!(k.status, 201, "{}", k.text);
    let short = k.body["key"].as_str().unwrap().to_string();
    let short_id = k.id();
    let past = app
        .post(
            &format!("/v1/advertisers/{a_id}/api-keys"),
            &a_key,
            json!({"expires_at": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(
        (past.status, past.body["field"].as_str()),
        (422, Some("expires_at")),
        "{}",
        past.text
    );

    // A lists its own keys, by prefix only; B does not see them.
    let list = app.get("/v1/api-keys", &a_key).await;
    assert_eq!(list.status, 200, "{}", list.text);
    let items = list.body.as_array().unwrap();
    assert_eq!(items.len(), 2, "{}", list.text);
    assert!(
        !list.text.contains(&short) && !list.text.contains(&a_key),
        "no secrets listed"
    );
    assert!(items
        .iter()
        .all(|k| k["prefix"].as_str().is_some_and(|p| p.len() == 11)));
    assert_eq!(
        app.get("/v1/api-keys", &b_key)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(
        app.get("/v1/api-keys", ADMIN_KEY)
            .await
            .body
            .as_array()
            .unwrap()
            .len()
            >= 3
    );

    // B cannot revoke A's key; A can, and it answers 401 at once.
    let path = format!("/v1/api-keys/{short_id}/revoke");
    assert_eq!(app.post(&path, &b_key, json!({})).await.status, 404);
    assert_eq!(app.get("/v1/campaigns", &short).await.status, 200);
    assert_eq!(app.post(&path, &a_key, json!({})).await.status, 204);
    assert_eq!(app.get("/v1/campaigns", &short).await.status, 401);
    assert_eq!(
        app.post(&path, &a_key, json!({})).await.status,
        404,
        "revoked once"
    );
    let audit = app
        .get(&format!("/v1/audit-log?object_id={short_id}"), ADMIN_KEY)
        .await;
    assert!(audit.text.contains("revoke"), "{}", audit.text);

    // An expiring key stops working when it expires.
    let soon = (chrono::Utc::now() + chrono::Duration::milliseconds(1_500)).to_rfc3339();
    let k = app
        .post(
            "/v1/api-keys",
            ADMIN_KEY,
            json!({"role": "finance", "expires_at": soon}),
        )
        .await;
    let finance = k.body["key"].as_str().unwrap().to_string();
    assert_eq!(app.get("/v1/campaigns", &finance).await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(1_700)).await;
    assert_eq!(app.get("/v1/campaigns", &finance).await.status, 401);
}

both_backends!(
    every_role_meets_every_endpoint,
    an_advertiser_lists_only_its_own_objects,
    keys_are_listed_by_prefix_revoked_at_once_and_expire,
);
