//! Receipt, identity, catalog and segment uploads against real ClickHouse and Redis.

use crate::helpers::*;
use endcap_events::{Event, ReceiptRow};
use serde_json::json;

fn key(c: char) -> String {
    c.to_string().repeat(64)
}

fn receipt(id: &str, version: i64, sku: &str, amount: i64) -> String {
    json!({
        "receipt_id": id, "version": version, "customer_key": key('c'), "store_id": "store-7",
        "ts": "2026-11-20T10:00:00Z",
        "lines": [{"sku": sku, "quantity": 1, "amount_micros": amount}]
    })
    .to_string()
}

async fn upload(app: &TestApp, path: &str, key: &str, ct: &str, body: &str) -> Resp {
    app.raw("POST", path, Some(key), Some((ct, body)), &[])
        .await
}

async fn receipt_rows(app: &TestApp) -> Vec<ReceiptRow> {
    let cfg = app.clickhouse.as_ref().expect("clickhouse app");
    cfg.client()
        .query("SELECT ?fields FROM receipts FINAL ORDER BY receipt_id, version, line_no")
        .fetch_all()
        .await
        .unwrap()
}

#[actix_web::test]
async fn a_receipt_file_with_bad_lines_keeps_the_good_ones() {
    let app = spawn_app_with(
        Backend::Postgres,
        Extras {
            clickhouse: true,
            redis: false,
        },
    )
    .await;
    let cat = upload(
        &app,
        "/v1/catalog",
        ADMIN_KEY,
        "text/csv",
        "sku,brand,category\nsku-1,Acme,dairy\nsku-2,Acme,snacks\nbad sku,X,Y\n",
    )
    .await;
    assert_eq!(
        (
            cat.status,
            cat.body["accepted"].as_u64(),
            cat.body["rejected"].as_u64()
        ),
        (200, Some(2), Some(1)),
        "{}",
        cat.text
    );
    assert_eq!(cat.body["errors"][0]["line"], 4);

    let file = [
        receipt("r-1", 1, "sku-1", 2_500_000),
        "{not json".to_string(),
        receipt("r-2", 1, "sku-2", 1_000_000),
        receipt("r-3", 1, "sku-1", 1_000_000).replace("1000000", "-1000000"),
        String::new(),
        json!({"receipt_id": "r-4", "loyalty_id": "LOYAL-42", "store_id": "s", "ts": "2026-11-21T09:00:00Z",
               "channel": "pickup", "lines": [{"sku": "sku-9", "quantity": 3, "amount_micros": 900_000, "brand": "Own"}]}).to_string(),
    ]
    .join("\n");
    let r = upload(
        &app,
        "/v1/receipts",
        ADMIN_KEY,
        "application/x-ndjson",
        &file,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (
            r.body["accepted"].as_u64(),
            r.body["rejected"].as_u64(),
            r.body["duplicates"].as_u64()
        ),
        (Some(3), Some(2), Some(0))
    );
    let bad: Vec<(u64, Option<&str>)> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["line"].as_u64().unwrap(), e["field"].as_str()))
        .collect();
    assert_eq!(bad, vec![(2, None), (4, Some("lines[0].amount_micros"))]);

    let rows = receipt_rows(&app).await;
    let got: Vec<(&str, &str, &str, &str, i64)> = rows
        .iter()
        .map(|r| {
            (
                r.receipt_id.as_str(),
                r.brand.as_str(),
                r.category.as_str(),
                r.channel.as_str(),
                r.amount_micros,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("r-1", "Acme", "dairy", "in_store", 2_500_000),
            ("r-2", "Acme", "snacks", "in_store", 1_000_000),
            ("r-4", "Own", "", "pickup", 900_000),
        ]
    );
    let hashed = endcap_core::HashedKey::hash_raw(TEST_SALT, "LOYAL-42");
    assert_eq!(
        rows[2].customer_key,
        hashed.as_str(),
        "raw loyalty ids are stored hashed only"
    );
}

#[actix_web::test]
async fn a_receipt_sent_twice_counts_once_and_a_higher_version_replaces_it() {
    let app = spawn_app_with(
        Backend::Sqlite,
        Extras {
            clickhouse: true,
            redis: false,
        },
    )
    .await;
    let file = [
        receipt("r-1", 1, "sku-1", 1_000_000),
        receipt("r-2", 1, "sku-1", 2_000_000),
    ]
    .join("\n");
    let first = upload(
        &app,
        "/v1/receipts",
        ADMIN_KEY,
        "application/x-ndjson",
        &file,
    )
    .await;
    assert_eq!(first.body["accepted"], 2);
    let again = upload(
        &app,
        "/v1/receipts",
        ADMIN_KEY,
        "application/x-ndjson",
        &file,
    )
    .await;
    assert_eq!(
        (
            again.status,
            again.body["accepted"].as_u64(),
            again.body["duplicates"].as_u64()
        ),
        (200, Some(0), Some(2))
    );
    assert_eq!(receipt_rows(&app).await.len(), 2);

    let corrected = receipt("r-1", 2, "sku-1", 1_500_000);
    let c = upload(
        &app,
        "/v1/receipts",
        ADMIN_KEY,
        "application/x-ndjson",
        &corrected,
    )
    .await;
    assert_eq!(c.body["accepted"], 1, "{}", c.text);
    let stale = upload(
        &app,
        "/v1/receipts",
        ADMIN_KEY,
        "application/x-ndjson",
        &receipt("r-1", 1, "sku-1", 7),
    )
    .await;
    assert_eq!(
        (stale.status, stale.body["errors"][0]["field"].as_str()),
        (422, Some("version"))
    );
    let same_version_other_content = upload(
        &app,
        "/v1/receipts",
        ADMIN_KEY,
        "application/x-ndjson",
        &receipt("r-2", 1, "sku-1", 9),
    )
    .await;
    assert_eq!(same_version_other_content.status, 422);

    let cfg = app.clickhouse.as_ref().unwrap();
    let latest: Vec<(String, i64)> = cfg.client()
        .query("SELECT receipt_id, argMax(amount_micros, version) FROM receipts FINAL GROUP BY receipt_id ORDER BY receipt_id")
        .fetch_all().await.unwrap();
    assert_eq!(
        latest,
        vec![
            ("r-1".to_string(), 1_500_000),
            ("r-2".to_string(), 2_000_000)
        ]
    );
}

#[actix_web::test]
async fn uploads_are_for_the_retailer_only() {
    let app = spawn_app(Backend::Sqlite).await;
    let (_, adv_key) = app.advertiser("Acme").await;
    for path in [
        "/v1/receipts",
        "/v1/identity-map",
        "/v1/catalog",
        "/v1/inventory",
    ] {
        assert_eq!(
            upload(&app, path, &adv_key, "application/x-ndjson", "{}")
                .await
                .status,
            403,
            "{path}"
        );
        assert_eq!(
            app.raw(
                "POST",
                path,
                None,
                Some(("application/x-ndjson", "{}")),
                &[]
            )
            .await
            .status,
            401
        );
    }
    let all_bad = upload(
        &app,
        "/v1/receipts",
        ADMIN_KEY,
        "application/x-ndjson",
        "{}\n[]\n",
    )
    .await;
    assert_eq!(
        (all_bad.status, all_bad.body["rejected"].as_u64()),
        (422, Some(2))
    );
}

#[actix_web::test]
async fn identity_links_land_in_the_event_log() {
    let app = spawn_app(Backend::Sqlite).await;
    let body = format!(
        "user_key,customer_key\n{},{}\n{{\"user_key\":\"{}\",\"loyalty_id\":\"L-1\"}}\nnot-a-key,{}\n",
        key('a'), key('b'), key('e'), key('f')
    );
    let r = upload(&app, "/v1/identity-map", ADMIN_KEY, "text/csv", &body).await;
    assert_eq!(
        (
            r.status,
            r.body["accepted"].as_u64(),
            r.body["errors"][0]["line"].as_u64()
        ),
        (200, Some(2), Some(4)),
        "{}",
        r.text
    );
    let text = std::fs::read_to_string(app.events.path().join("identity_map.ndjson")).unwrap();
    let links: Vec<Event> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(links.len(), 2);
    // The ad server reads the latest link per user key from the store.
    let store = endcap_store::CampaignStore::connect(&app.db).await.unwrap();
    assert_eq!(store.customer_key(&key('a')).await.unwrap(), Some(key('b')));
    assert_eq!(store.customer_key(&key('c')).await.unwrap(), None);
}

#[actix_web::test]
async fn external_ids_are_keyed_on_arrival_and_linked_to_their_customer() {
    let app = spawn_app(Backend::Sqlite).await;
    let c = key('c');
    let body = format!(
        "{{\"source\":\"uidapi.com\",\"external_id\":\"uid2-token-abc\",\"customer_key\":\"{c}\"}}\n\
         {{\"source\":\"liveramp.com\",\"external_id\":\"ramp-xyz\",\"loyalty_id\":\"L-9\"}}\n\
         {{\"source\":\"uidapi.com\",\"customer_key\":\"{c}\"}}\n"
    );
    let r = upload(
        &app,
        "/v1/identity-map",
        ADMIN_KEY,
        "application/x-ndjson",
        &body,
    )
    .await;
    assert_eq!(
        (
            r.status,
            r.body["accepted"].as_u64(),
            r.body["errors"][0]["line"].as_u64(),
            r.body["errors"][0]["field"].as_str()
        ),
        (200, Some(2), Some(3), Some("external_id")),
        "{}",
        r.text
    );
    let store = endcap_store::CampaignStore::connect(&app.db).await.unwrap();
    let uid2 = endcap_core::HashedKey::external_id(TEST_USER_SALT, "uidapi.com", "uid2-token-abc");
    assert_eq!(store.customer_key(uid2.as_str()).await.unwrap(), Some(c));
    let ramp = endcap_core::HashedKey::external_id(TEST_USER_SALT, "liveramp.com", "ramp-xyz");
    assert_eq!(
        store.customer_key(ramp.as_str()).await.unwrap(),
        Some(
            endcap_core::HashedKey::hash_raw(TEST_SALT, "L-9")
                .as_str()
                .to_string()
        )
    );
    let log = std::fs::read_to_string(app.events.path().join("identity_map.ndjson")).unwrap();
    assert!(
        log.contains(uid2.as_str()),
        "the attribution map has the link"
    );
    assert!(
        !log.contains("uid2-token-abc") && !log.contains("ramp-xyz"),
        "external ids are never stored raw"
    );
}

#[actix_web::test]
async fn a_deleted_person_leaves_nothing_in_the_file_event_log() {
    let app = spawn_app(Backend::Sqlite).await;
    let (c, a, d, e) = (key('c'), key('a'), key('d'), key('e'));
    let links = format!("user_key,customer_key\n{a},{c}\n{e},{d}\n");
    let r = upload(&app, "/v1/identity-map", ADMIN_KEY, "text/csv", &links).await;
    assert_eq!(r.body["accepted"], 2, "{}", r.text);
    let r = app
        .post("/v1/privacy/deletions", ADMIN_KEY, json!({"user_key": a}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(
        (
            r.body["event_log"].as_str(),
            r.body["file_lines_removed"].as_u64()
        ),
        (Some("files"), Some(1)),
        "{}",
        r.text
    );
    // No file of the event log holds either of the person's keys; the bystander stays.
    let mut all = String::new();
    for f in std::fs::read_dir(app.events.path()).unwrap().flatten() {
        if f.path().is_file() {
            all.push_str(&std::fs::read_to_string(f.path()).unwrap_or_default());
        }
    }
    assert!(!all.contains(&a) && !all.contains(&c), "{all}");
    assert!(all.contains(&e));
}

async fn segments_are_owned_uploaded_and_emptied(backend: Backend) {
    let app = spawn_app_with(
        backend,
        Extras {
            clickhouse: false,
            redis: true,
        },
    )
    .await;
    let (owner_id, owner) = app.advertiser("Owner").await;
    let (_, other) = app.advertiser("Other").await;
    // Advertiser segments live in the advertiser's namespace.
    let prefix = &uuid::Uuid::parse_str(&owner_id)
        .unwrap()
        .simple()
        .to_string()[20..];
    let id = format!(
        "{prefix}-dairy-{}",
        &uuid::Uuid::now_v7().simple().to_string()[..12]
    );
    let path = format!("/v1/segments/{id}");
    let put = app
        .raw(
            "PUT",
            &path,
            Some(&owner),
            Some(("application/json", r#"{"name": "Dairy lovers"}"#)),
            &[],
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    let members = format!(
        "user_key\n{}\n{}\n{}\nnot-hashed\n",
        key('1'),
        key('2'),
        key('3')
    );
    let up = app
        .raw(
            "PUT",
            &format!("{path}/members"),
            Some(&owner),
            Some(("text/csv", &members)),
            &[("X-Request-Id", "req-members-1")],
        )
        .await;
    assert_eq!(
        (
            up.status,
            up.body["accepted"].as_u64(),
            up.body["rejected"].as_u64()
        ),
        (200, Some(3), Some(1)),
        "{}",
        up.text
    );
    assert_eq!(up.body["errors"][0]["line"], 5);
    // The change is audited with its request id and counts, never the keys.
    let audit = app
        .get(&format!("/v1/audit-log?object_id={id}"), ADMIN_KEY)
        .await;
    assert!(
        audit.text.contains("add_members") && audit.text.contains("req-members-1"),
        "{}",
        audit.text
    );
    assert!(!audit.text.contains(&key('1')), "{}", audit.text);
    let got = app.get(&path, &owner).await;
    assert_eq!(
        (got.body["name"].as_str(), got.body["members"].as_u64()),
        (Some("Dairy lovers"), Some(3))
    );

    assert_eq!(app.get(&path, &other).await.status, 404);
    let theirs = app
        .raw(
            "PUT",
            &format!("{path}/members"),
            Some(&other),
            Some(("text/csv", &key('9'))),
            &[],
        )
        .await;
    assert_eq!(theirs.status, 404);

    let rm = app
        .raw(
            "DELETE",
            &format!("{path}/members"),
            Some(&owner),
            Some(("text/csv", &key('1'))),
            &[],
        )
        .await;
    assert_eq!(rm.body["accepted"], 1);
    assert_eq!(app.get(&path, &owner).await.body["members"], 2);
    let clear = app
        .raw(
            "DELETE",
            &format!("{path}/members"),
            Some(&owner),
            None,
            &[],
        )
        .await;
    assert_eq!(clear.body["accepted"], 2);
    assert_eq!(app.get(&path, ADMIN_KEY).await.body["members"], 0);

    let bad = app
        .raw(
            "PUT",
            "/v1/segments/Bad%20Id",
            Some(&owner),
            Some(("application/json", r#"{"name": "x"}"#)),
            &[],
        )
        .await;
    assert_eq!(
        (bad.status, bad.error(), bad.field()),
        (400, Some("invalid_parameter"), Some("id"))
    );
}

async fn audiences_belong_to_their_owner(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a_id, a) = app.advertiser("A").await;
    let (b_id, b) = app.advertiser("B").await;
    let prefix =
        |id: &str| uuid::Uuid::parse_str(id).unwrap().simple().to_string()[20..].to_string();
    let put = |key: String, id: String, body: &'static str| {
        let app = &app;
        async move {
            app.raw(
                "PUT",
                &format!("/v1/segments/{id}"),
                Some(&key),
                Some(("application/json", body)),
                &[],
            )
            .await
        }
    };
    let a_seg = format!("{}-dairy", prefix(&a_id));
    let r = put(a.clone(), a_seg.clone(), r#"{"name": "A's dairy"}"#).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Nobody claims an id outside their namespace: not B in A's, not B a retailer-style id.
    for id in [
        format!("{}-dairy2", prefix(&a_id)),
        "loyalty-gold".to_string(),
    ] {
        let r = put(b.clone(), id.clone(), r#"{"name": "squat"}"#).await;
        assert_eq!(
            (r.status, r.body["field"].as_str()),
            (422, Some("id")),
            "{id}: {}",
            r.text
        );
    }
    // The retailer shares a segment; its ids never look like an advertiser's.
    let r = put(
        ADMIN_KEY.to_string(),
        "loyalty-gold".into(),
        r#"{"name": "Gold members"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = put(
        ADMIN_KEY.to_string(),
        format!("{}-x", prefix(&b_id)),
        r#"{"name": "x"}"#,
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text);

    // B cannot target A's segment (nor a missing one), on create or on patch; its own
    // campaign can target the shared one.
    let b_campaign = app.campaign(&b, &b_id).await;
    let with = |segments: Vec<String>| {
        let mut body = line_item_body();
        body["targeting"]["segments"] = serde_json::json!(segments);
        body
    };
    for segs in [
        vec![a_seg.clone()],
        vec!["loyalty-gold".into(), "no-such-segment".into()],
    ] {
        let r = app
            .post(
                &format!("/v1/campaigns/{b_campaign}/line-items"),
                &b,
                with(segs.clone()),
            )
            .await;
        assert_eq!(r.status, 422, "{segs:?}: {}", r.text);
        assert!(
            r.body["field"]
                .as_str()
                .unwrap()
                .starts_with("targeting.segments["),
            "{}",
            r.text
        );
    }
    let ok = app
        .post(
            &format!("/v1/campaigns/{b_campaign}/line-items"),
            &b,
            with(vec!["loyalty-gold".into()]),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    let lid = ok.id();
    let r = app
        .patch(
            &format!("/v1/line-items/{lid}"),
            &b,
            serde_json::json!({"version": 1, "targeting": {"segments": [a_seg.clone()]}}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    // A targets its own.
    let a_campaign = app.campaign(&a, &a_id).await;
    let r = app
        .post(
            &format!("/v1/campaigns/{a_campaign}/line-items"),
            &a,
            with(vec![a_seg]),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

both_backends!(
    segments_are_owned_uploaded_and_emptied,
    audiences_belong_to_their_owner
);

#[actix_web::test]
async fn a_deleted_person_leaves_nothing_behind() {
    use endcap_events::BatchWriter;
    let app = spawn_app_with(
        Backend::Postgres,
        Extras {
            clickhouse: true,
            redis: false,
        },
    )
    .await;
    let cfg = app.clickhouse.clone().expect("clickhouse app");
    // Customer c with two devices a and b; a bystander d with device e.
    let (c, a, b, d, e) = (key('c'), key('a'), key('b'), key('d'), key('e'));
    let links = format!("user_key,customer_key\n{a},{c}\n{b},{c}\n{e},{d}\n");
    let r = upload(&app, "/v1/identity-map", ADMIN_KEY, "text/csv", &links).await;
    assert_eq!(r.body["accepted"], 3, "{}", r.text);
    let receipts = [receipt("r-1", 1, "sku-1", 1_000_000)].join("\n");
    let r = upload(
        &app,
        "/v1/receipts",
        ADMIN_KEY,
        "application/x-ndjson",
        &receipts,
    )
    .await;
    assert_eq!(r.body["accepted"], 1, "{}", r.text);
    let r = app
        .raw(
            "PUT",
            "/v1/segments/loyalty-gold",
            Some(ADMIN_KEY),
            Some(("application/json", r#"{"name": "Gold"}"#)),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let members = format!("user_key\n{a}\n{e}\n");
    let r = app
        .raw(
            "PUT",
            "/v1/segments/loyalty-gold/members",
            Some(ADMIN_KEY),
            Some(("text/csv", &members)),
            &[],
        )
        .await;
    assert!(r.status < 300, "{}", r.text);
    // Ads the devices saw, as the ad server logs them.
    let seen = |user: &str| {
        use endcap_core::*;
        endcap_events::Event::Impression(endcap_events::AdEvent::new(
            Exposure {
                decision_id: DecisionId::generate(),
                decided_at_ms: chrono::Utc::now().timestamp_millis(),
                user_key: user.to_string(),
                advertiser_id: AdvertiserId::generate(),
                campaign_id: CampaignId::generate(),
                line_item_id: LineItemId::generate(),
                creative_id: CreativeId::generate(),
                channel: AdChannel::Onsite,
                placement: "home".into(),
                position: 0,
                sku: None,
                pricing: PricingModel::Cpm,
                price_micros: 1,
                bid_cpm_micros: 0,
            },
            chrono::Utc::now().timestamp_millis(),
            vec![],
        ))
    };
    endcap_events::ClickHouseWriter::new(&cfg)
        .write(&[seen(&a), seen(&b), seen(&e)])
        .await
        .unwrap();
    // The uploads reach ClickHouse through the event sink.
    let until =
        |what: &'static str, users: Vec<String>, customers: Vec<String>, want_zero: bool| {
            let cfg = cfg.clone();
            async move {
                for _ in 0..100 {
                    let n = endcap_events::rows_of_people(&cfg, &users, &customers)
                        .await
                        .unwrap();
                    if (n == 0) == want_zero {
                        return n;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                panic!("{what}: never reached");
            }
        };
    let before = until(
        "rows to land",
        vec![a.clone(), b.clone()],
        vec![c.clone()],
        false,
    )
    .await;
    assert!(before >= 3, "{before}");

    let r = app
        .post(
            "/v1/privacy/deletions",
            ADMIN_KEY,
            json!({"customer_key": c}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(
        (
            r.body["user_keys"].as_u64(),
            r.body["customer_keys"].as_u64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(r.body["segment_memberships_removed"], 1);
    assert_eq!(r.body["event_log"], "clickhouse");
    // Nothing of them is left; the bystander is untouched.
    until(
        "deletion",
        vec![a.clone(), b.clone()],
        vec![c.clone()],
        true,
    )
    .await;
    assert!(
        endcap_events::rows_of_people(&cfg, std::slice::from_ref(&e), std::slice::from_ref(&d))
            .await
            .unwrap()
            >= 2
    );
    let store = endcap_store::CampaignStore::connect(&app.db).await.unwrap();
    assert_eq!(store.customer_key(&a).await.unwrap(), None);
    assert_eq!(store.customer_key(&b).await.unwrap(), None);
    assert_eq!(store.customer_key(&e).await.unwrap(), Some(d.clone()));
    let seg = app.get("/v1/segments/loyalty-gold", ADMIN_KEY).await;
    assert_eq!(seg.body["members"], 1, "{}", seg.text);
    // Audited, without the keys.
    let audit = app.get("/v1/audit-log?limit=500", ADMIN_KEY).await;
    assert!(audit.text.contains("data_subject"), "{}", audit.text);
    assert!(!audit.text.contains(&c) && !audit.text.contains(&a));
    // Only admins; a bad key is named.
    let r = app
        .post(
            "/v1/privacy/deletions",
            ADMIN_KEY,
            json!({"user_key": "u-1"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (422, Some("user_key")),
        "{}",
        r.text
    );
}

#[actix_web::test]
async fn an_inventory_upload_stores_stock_outs_and_names_bad_lines() {
    let app = spawn_app(Backend::Sqlite).await;
    let r = upload(
        &app,
        "/v1/inventory",
        ADMIN_KEY,
        "text/csv",
        "sku,store_id,in_stock\nsku-1,s-7,false\nsku-2,s-7,0\nsku-2,s-7,yes\nsku-3,s-7,perhaps\n",
    )
    .await;
    assert_eq!(
        (
            r.status,
            r.body["accepted"].as_u64(),
            r.body["rejected"].as_u64()
        ),
        (200, Some(3), Some(1)),
        "{}",
        r.text
    );
    assert_eq!(
        (&r.body["errors"][0]["line"], &r.body["errors"][0]["field"]),
        (&json!(5), &json!("in_stock"))
    );
    let ndjson = upload(
        &app,
        "/v1/inventory",
        ADMIN_KEY,
        "application/x-ndjson",
        r#"{"sku":"sku-4","store_id":"s-8","in_stock":false}"#,
    )
    .await;
    assert_eq!(ndjson.body["accepted"].as_u64(), Some(1), "{}", ndjson.text);
    let store = endcap_store::CampaignStore::connect(&app.db).await.unwrap();
    let outs = store
        .stock_outs(&["sku-1".into(), "sku-2".into(), "sku-4".into()], 10)
        .await
        .unwrap();
    assert_eq!(
        outs,
        vec![
            ("sku-1".to_string(), "s-7".to_string()),
            ("sku-4".into(), "s-8".into())
        ],
        "sku-2 came back in stock later in the same upload"
    );
}
