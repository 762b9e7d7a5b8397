//! The campaign store's behaviour, run once against SQLite and once against the real
//! PostgreSQL server (`ENDCAP_TEST_PG_URL`, started by scripts/test.sh).

use chrono::{Duration, TimeZone, Utc};
use endcap_core::*;
use endcap_store::{testing, CampaignStore, Idempotency, ListQuery, StoreError};

fn pg_admin_url() -> String {
    std::env::var("ENDCAP_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

async fn store(pg: bool) -> CampaignStore {
    let admin = pg.then(pg_admin_url);
    testing::fresh_store(admin.as_deref())
        .await
        .expect("a fresh store (is PostgreSQL running? scripts/test.sh starts it)")
}

fn campaign_input() -> CampaignInput {
    CampaignInput {
        advertiser_id: None,
        name: "Spring".into(),
        budget: BudgetInput {
            total_micros: 5_000_000_000,
            daily_micros: 250_000_000,
        },
        start_at: Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap(),
        end_at: Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap(),
        attribution: None,
        holdout_percent: 5,
        status: None,
        frequency_cap: None,
    }
}

async fn advertiser(s: &CampaignStore, name: &str) -> Advertiser {
    s.create_advertiser(
        "test",
        AdvertiserInput {
            name: name.into(),
            currency: "USD".into(),
            frequency_cap: None,
            domains: vec![],
        }
        .validate()
        .unwrap(),
        None,
    )
    .await
    .unwrap()
    .value
}

async fn campaign(s: &CampaignStore, adv: &Advertiser) -> Campaign {
    s.create_campaign("test", adv.id, None, |_| Ok(campaign_input().validate()?))
        .await
        .unwrap()
        .value
}

fn patch(version: i64) -> CampaignPatch {
    CampaignPatch {
        version,
        name: None,
        budget: None,
        start_at: None,
        end_at: None,
        attribution: None,
        holdout_percent: None,
        status: None,
        frequency_cap: None,
    }
}

async fn objects_round_trip(s: CampaignStore) {
    let adv = advertiser(&s, "Acme").await;
    assert_eq!(s.get::<Advertiser>(&adv.id.to_string()).await.unwrap(), adv);
    let c = campaign(&s, &adv).await;
    assert_eq!(c.currency.as_str(), "USD");
    assert_eq!(c.version, 1);
    assert_eq!(s.get::<Campaign>(&c.id.to_string()).await.unwrap(), c);

    let li_input: LineItemInput = serde_json::from_value(serde_json::json!({
        "name": "Milk on search",
        "pricing": {"model": "cpc", "bid_micros": 1_200_000},
        "targeting": {"placements": ["search-top"], "keywords": ["Organic Milk"]},
        "frequency_cap": {"max": 3, "per": "day"},
        "promoted_skus": ["sku-1", "sku-2"]
    }))
    .unwrap();
    let li = s
        .create_line_item("test", c.id, None, |c| Ok(li_input.validate(c)?))
        .await
        .unwrap()
        .value;
    assert_eq!(li.campaign_id, c.id);
    assert_eq!(li.advertiser_id, adv.id);
    assert_eq!(li.targeting.keywords, vec![Keyword::broad("organic milk")]);
    assert_eq!(s.get::<LineItem>(&li.id.to_string()).await.unwrap(), li);

    let cr_input: CreativeInput = serde_json::from_value(serde_json::json!({
        "kind": "sponsored_product", "sku": "sku-1", "click_url": "https://shop.example/p/sku-1"
    }))
    .unwrap();
    let cr = s
        .create_creative("test", li.id, None, |li| Ok(cr_input.validate(li)?))
        .await
        .unwrap()
        .value;
    assert_eq!(cr.campaign_id, c.id);
    assert_eq!(s.get::<Creative>(&cr.id.to_string()).await.unwrap(), cr);

    let page = s
        .list::<LineItem>(&ListQuery {
            parent_id: Some(c.id.to_string()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items, vec![li]);
    assert_eq!(page.next_cursor, None);
}

async fn a_stale_version_conflicts_and_changes_nothing(s: CampaignStore) {
    let adv = advertiser(&s, "Acme").await;
    let c = campaign(&s, &adv).await;
    let mut p = patch(1);
    p.name = Some("Renamed".into());
    let v2 = s
        .update_campaign("test", c.id, 1, |cur| Ok(p.apply(cur)?))
        .await
        .unwrap();
    assert_eq!((v2.version, v2.name.as_str()), (2, "Renamed"));

    let mut stale = patch(1);
    stale.name = Some("Lost update".into());
    let err = s
        .update_campaign("test", c.id, 1, |cur| Ok(stale.apply(cur)?))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                sent: 1,
                current: 2
            }
        ),
        "{err:?}"
    );
    let now = s.get::<Campaign>(&c.id.to_string()).await.unwrap();
    assert_eq!(now, v2);
}

async fn an_invalid_change_writes_nothing(s: CampaignStore) {
    let adv = advertiser(&s, "Acme").await;
    let c = campaign(&s, &adv).await;
    let mut p = patch(1);
    p.name = Some("New name".into());
    p.end_at = Some(c.start_at - Duration::days(1));
    let err = s
        .update_campaign("test", c.id, 1, |cur| Ok(p.apply(cur)?))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Invalid(ref v) if v.field == "end_at"),
        "{err:?}"
    );
    assert_eq!(s.get::<Campaign>(&c.id.to_string()).await.unwrap(), c);
    let audit = s
        .audit_log(Some(&c.id.to_string()), None, None, 100)
        .await
        .unwrap();
    assert_eq!(audit.items.len(), 1, "only the create is audited");
}

async fn an_idempotent_retry_returns_the_first_result(s: CampaignStore) {
    let adv = advertiser(&s, "Acme").await;
    let idem = Idempotency {
        scope: "key-1".into(),
        key: "retry-me".into(),
        request_hash: "h1".into(),
    };
    let first = s
        .create_campaign("test", adv.id, Some(&idem), |_| {
            Ok(campaign_input().validate()?)
        })
        .await
        .unwrap();
    let again = s
        .create_campaign("test", adv.id, Some(&idem), |_| {
            Ok(campaign_input().validate()?)
        })
        .await
        .unwrap();
    assert!(!first.replayed && again.replayed);
    assert_eq!(first.value, again.value);
    let all = s
        .list::<Campaign>(&ListQuery {
            advertiser_id: Some(adv.id),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.items.len(), 1, "no duplicate");

    let other_body = Idempotency {
        request_hash: "h2".into(),
        ..idem.clone()
    };
    let err = s
        .create_campaign("test", adv.id, Some(&other_body), |_| {
            Ok(campaign_input().validate()?)
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::IdempotencyMismatch));

    let other_tenant = Idempotency {
        scope: "key-2".into(),
        ..idem
    };
    let fresh = s
        .create_campaign("test", adv.id, Some(&other_tenant), |_| {
            Ok(campaign_input().validate()?)
        })
        .await
        .unwrap();
    assert!(!fresh.replayed, "keys are scoped per API key");
}

async fn listing_pages_and_filters(s: CampaignStore) {
    let a = advertiser(&s, "A").await;
    let b = advertiser(&s, "B").await;
    let mut mine = Vec::new();
    for _ in 0..5 {
        mine.push(campaign(&s, &a).await.id);
    }
    campaign(&s, &b).await;
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = s
            .list::<Campaign>(&ListQuery {
                advertiser_id: Some(a.id),
                after: cursor.clone(),
                limit: 2,
                ..Default::default()
            })
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|c| c.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(
        seen, mine,
        "every campaign once, in creation order, none of B's"
    );

    let mut p = patch(1);
    p.status = Some(Status::Active);
    s.update_campaign("test", mine[0], 1, |c| Ok(p.apply(c)?))
        .await
        .unwrap();
    let active = s
        .list::<Campaign>(&ListQuery {
            status: Some(Status::Active),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(active.items.len(), 1);
    assert_eq!(active.items[0].id, mine[0]);
}

async fn the_audit_log_records_who_changed_what(s: CampaignStore) {
    let adv = advertiser(&s, "Acme").await;
    let c = campaign(&s, &adv).await;
    let mut p = patch(1);
    p.budget = Some(BudgetPatch {
        daily_micros: Some(100_000_000),
        total_micros: None,
    });
    s.update_campaign("admin:k1", c.id, 1, |cur| Ok(p.apply(cur)?))
        .await
        .unwrap();
    let log = s
        .audit_log(Some(&c.id.to_string()), None, None, 10)
        .await
        .unwrap();
    let actions: Vec<_> = log
        .items
        .iter()
        .map(|e| (e.action.as_str(), e.version, e.actor.as_str()))
        .collect();
    assert_eq!(
        actions,
        vec![("create", 1, "test"), ("update", 2, "admin:k1")]
    );
    assert_eq!(log.items[1].doc["budget"]["daily_micros"], 100_000_000);
}

async fn api_keys_resolve_to_their_principal(s: CampaignStore) {
    let adv = advertiser(&s, "Acme").await;
    let secret = endcap_store::ApiKeySecret::generate().unwrap();
    let key = s
        .create_api_key("test", Role::Advertiser, Some(adv.id), &secret, "ci", None)
        .await
        .unwrap();
    let p = s.authenticate(secret.expose()).await.unwrap().unwrap();
    assert_eq!(
        (p.key_id, p.role, p.advertiser_id),
        (key.id, Role::Advertiser, Some(adv.id))
    );
    assert_eq!(s.authenticate("ek_wrong").await.unwrap(), None);

    let admin = endcap_store::ApiKeySecret::from_config("bootstrap-admin");
    let first = s
        .ensure_api_key(Role::Admin, None, &admin, "boot")
        .await
        .unwrap();
    let second = s
        .ensure_api_key(Role::Admin, None, &admin, "boot")
        .await
        .unwrap();
    assert_eq!(first, second, "bootstrap is idempotent");
}

async fn missing_parents_are_not_found(s: CampaignStore) {
    let err = s
        .create_campaign("test", AdvertiserId::generate(), None, |_| {
            Ok(campaign_input().validate()?)
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound("advertiser")), "{err:?}");
    let err = s
        .get::<LineItem>(&LineItemId::generate().to_string())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound("line_item")));
}

async fn concurrent_writers_of_one_version_cannot_both_win(s: CampaignStore) {
    let adv = advertiser(&s, "Acme").await;
    let c = campaign(&s, &adv).await;
    let write = |name: &'static str| {
        let s = s.clone();
        async move {
            let mut p = patch(1);
            p.name = Some(name.into());
            s.update_campaign(name, c.id, 1, |cur| Ok(p.apply(cur)?))
                .await
        }
    };
    let (a, b) = tokio::join!(write("a"), write("b"));
    let wins = [a.is_ok(), b.is_ok()].iter().filter(|w| **w).count();
    assert_eq!(wins, 1, "{a:?} {b:?}");
    let loser = if a.is_ok() { b } else { a };
    assert!(
        matches!(
            loser,
            Err(StoreError::Conflict {
                sent: 1,
                current: 2
            })
        ),
        "{loser:?}"
    );
    assert_eq!(
        s.get::<Campaign>(&c.id.to_string()).await.unwrap().version,
        2
    );
}

async fn concurrent_retries_with_one_key_create_one_object(s: CampaignStore) {
    let adv = advertiser(&s, "Acme").await;
    let idem = Idempotency {
        scope: "key-1".into(),
        key: "race".into(),
        request_hash: "h".into(),
    };
    let go = || {
        let (s, idem) = (s.clone(), idem.clone());
        async move {
            s.create_campaign("test", adv.id, Some(&idem), |_| {
                Ok(campaign_input().validate()?)
            })
            .await
        }
    };
    let (a, b) = tokio::join!(go(), go());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.value, b.value);
    let all = s
        .list::<Campaign>(&ListQuery {
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.items.len(), 1);
}

async fn the_ledger_keeps_the_highest_version_and_the_catalog_upserts(s: CampaignStore) {
    s.record_receipts(&[("r1".into(), 2, "h2".into()), ("r2".into(), 1, "a".into())])
        .await
        .unwrap();
    s.record_receipts(&[("r1".into(), 1, "h1".into())])
        .await
        .unwrap();
    let l = s
        .receipt_ledger(&["r1".into(), "r2".into(), "r3".into()])
        .await
        .unwrap();
    assert_eq!(
        (l["r1"].version, l["r1"].content_hash.as_str()),
        (2, "h2"),
        "an older version never wins"
    );
    assert_eq!(l.len(), 2);
    s.record_receipts(&[("r1".into(), 3, "h3".into())])
        .await
        .unwrap();
    assert_eq!(
        s.receipt_ledger(&["r1".into()]).await.unwrap()["r1"].version,
        3
    );

    s.upsert_catalog(&[("sku-1".into(), "Acme".into(), "dairy".into())])
        .await
        .unwrap();
    s.upsert_catalog(&[("sku-1".into(), "Acme".into(), "milk".into())])
        .await
        .unwrap();
    let c = s.catalog(&["sku-1".into(), "sku-2".into()]).await.unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(c["sku-1"], ("Acme".to_string(), "milk".to_string()));
}

/// The inventory upload's table: only stock-outs are kept, the last fact wins, SKUs match
/// case-insensitively, the read is bounded, and every upload moves the change marker (so ad
/// servers rebuild their snapshot with it).
async fn stock_outs_keep_the_last_fact_per_sku_and_store(s: CampaignStore) {
    use endcap_store::Availability;
    let fact = |sku: &str, store: &str, in_stock: bool| Availability {
        sku: sku.into(),
        store_id: store.into(),
        in_stock,
    };
    let before = s.change_marker().await.unwrap();
    let n = s
        .set_availability(&[
            fact("SKU-1", "s1", false),
            fact("sku-1", "s2", false),
            fact("sku-2", "s1", false),
            fact("sku-3", "s1", true),
            fact("sku-2", "s1", true),
        ])
        .await
        .unwrap();
    assert_eq!(n, 5);
    assert!(s.change_marker().await.unwrap() > before);
    let skus = ["Sku-1".to_string(), "sku-2".into(), "sku-3".into()];
    let outs = s.stock_outs(&skus, 100).await.unwrap();
    assert_eq!(
        outs,
        vec![
            ("sku-1".to_string(), "s1".to_string()),
            ("sku-1".into(), "s2".into())
        ],
        "sku-2 was back in stock in the same upload; sku-3 was never out"
    );
    // Out again, then back in a later upload.
    s.set_availability(&[fact("sku-1", "s1", false), fact("sku-1", "s2", true)])
        .await
        .unwrap();
    assert_eq!(
        s.stock_outs(&skus, 100).await.unwrap(),
        vec![("sku-1".to_string(), "s1".to_string())]
    );
    s.set_availability(&[fact("sku-9", "s1", false), fact("sku-9", "s2", false)])
        .await
        .unwrap();
    assert_eq!(
        s.stock_outs(&["sku-9".into()], 1).await.unwrap().len(),
        1,
        "bounded"
    );
    assert!(s.stock_outs(&[], 10).await.unwrap().is_empty());
}

async fn a_segment_keeps_its_owner(s: CampaignStore) {
    let a = advertiser(&s, "A").await;
    let b = advertiser(&s, "B").await;
    let seg = s
        .upsert_segment("t", "dairy-lovers", Some(a.id), "Dairy")
        .await
        .unwrap();
    assert_eq!(s.segment("dairy-lovers").await.unwrap(), seg);
    let renamed = s
        .upsert_segment("t", "dairy-lovers", Some(a.id), "Dairy fans")
        .await
        .unwrap();
    assert_eq!(renamed.name, "Dairy fans");
    assert!(matches!(
        s.upsert_segment("t", "dairy-lovers", Some(b.id), "Mine now")
            .await,
        Err(StoreError::NotFound("segment"))
    ));
    let shared = s
        .upsert_segment("t", "all-shoppers", None, "Everyone")
        .await
        .unwrap();
    assert_eq!(shared.advertiser_id, None);
}

async fn migrations_are_applied_once(url: String) {
    let a = CampaignStore::connect(&url).await.unwrap();
    advertiser(&a, "kept").await;
    drop(a);
    let b = CampaignStore::connect(&url).await.unwrap();
    let page = b
        .list::<Advertiser>(&ListQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        page.items.len(),
        1,
        "reopening keeps data and re-runs nothing"
    );
}

async fn a_rotated_bootstrap_key_retires_the_one_before(s: CampaignStore) {
    use endcap_store::ApiKeySecret;
    let label = "bootstrap admin (ENDCAP_ADMIN_KEY)";
    let old = ApiKeySecret::from_config("old-admin-key-0123456789");
    let new = ApiKeySecret::from_config("new-admin-key-0123456789");
    s.ensure_api_key(Role::Admin, None, &old, label)
        .await
        .unwrap();
    let p = s
        .ensure_api_key(Role::Admin, None, &new, label)
        .await
        .unwrap();
    assert!(
        s.authenticate(old.expose()).await.unwrap().is_some(),
        "both live until retired"
    );
    assert_eq!(
        s.retire_other_keys("system", label, p.key_id)
            .await
            .unwrap(),
        1
    );
    assert!(
        s.authenticate(old.expose()).await.unwrap().is_none(),
        "the old key is revoked"
    );
    assert!(s.authenticate(new.expose()).await.unwrap().is_some());
    assert_eq!(
        s.retire_other_keys("system", label, p.key_id)
            .await
            .unwrap(),
        0
    );
    // Rolling back to the old key reinstates it (and retires the new one) instead of failing.
    let back = s
        .ensure_api_key(Role::Admin, None, &old, label)
        .await
        .unwrap();
    assert_eq!(
        s.retire_other_keys("system", label, back.key_id)
            .await
            .unwrap(),
        1
    );
    assert!(s.authenticate(old.expose()).await.unwrap().is_some());
    assert!(s.authenticate(new.expose()).await.unwrap().is_none());
    // Keys of other roles never match, whatever their label.
    let adv = advertiser(&s, "Acme").await;
    let other = ApiKeySecret::from_config("advertiser-key-0123456789");
    s.create_api_key("test", Role::Advertiser, Some(adv.id), &other, label, None)
        .await
        .unwrap();
    s.retire_other_keys("system", label, back.key_id)
        .await
        .unwrap();
    assert!(s.authenticate(other.expose()).await.unwrap().is_some());
}

async fn segment_members_are_kept_both_ways_and_bounded(s: CampaignStore) {
    let users: Vec<String> = (0..1_203).map(|i| format!("user-{i:05}")).collect();
    assert_eq!(
        s.add_segment_members("a1b2:dairy", &users, 2_000)
            .await
            .unwrap(),
        1_203
    );
    assert_eq!(
        s.add_segment_members("a1b2:dairy", &users[..10], 2_000)
            .await
            .unwrap(),
        0,
        "members already there are not added twice"
    );
    s.add_segment_members("shared:pets", &users[..1], 2_000)
        .await
        .unwrap();
    assert_eq!(
        s.segments_of_user("user-00000").await.unwrap(),
        vec!["a1b2:dairy".to_string(), "shared:pets".to_string()]
    );
    assert_eq!(s.segment_size("a1b2:dairy").await.unwrap(), 1_203);
    let more: Vec<String> = (0..900).map(|i| format!("other-{i}")).collect();
    let err = s
        .add_segment_members("a1b2:dairy", &more, 2_000)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Invalid(ref v) if v.field == "members"),
        "{err}"
    );
    assert_eq!(
        s.segment_size("a1b2:dairy").await.unwrap(),
        1_203,
        "nothing half-written"
    );
    assert_eq!(
        s.remove_segment_members("a1b2:dairy", &users[..600])
            .await
            .unwrap(),
        600
    );
    assert_eq!(s.segment_members("a1b2:dairy").await.unwrap().len(), 603);
    assert_eq!(
        s.segments_of_user("user-00000").await.unwrap(),
        vec!["shared:pets".to_string()]
    );
}

async fn retention_deletes_what_is_past_its_age(s: CampaignStore) {
    use endcap_store::{RetentionRun, StoreRetention};
    let adv = advertiser(&s, "Acme").await;
    let _ = campaign(&s, &adv).await;
    s.create_campaign(
        "test",
        adv.id,
        Some(&Idempotency {
            scope: "key-1".into(),
            key: "k-1".into(),
            request_hash: "h".into(),
        }),
        |_| Ok(campaign_input().validate()?),
    )
    .await
    .unwrap();
    s.upsert_identity(&[("a".repeat(64), "b".repeat(64))])
        .await
        .unwrap();
    let policy = StoreRetention::default();
    let now = Utc::now();
    assert_eq!(
        s.enforce_retention(policy, now).await.unwrap(),
        RetentionRun::default(),
        "nothing is old yet"
    );
    let run = s
        .enforce_retention(policy, now + Duration::days(8))
        .await
        .unwrap();
    assert_eq!((run.idempotency_keys, run.identity_links), (1, 0));
    let run = s
        .enforce_retention(policy, now + Duration::days(401))
        .await
        .unwrap();
    assert_eq!((run.identity_links, run.audit_entries), (1, 0));
    assert_eq!(s.customer_key(&"a".repeat(64)).await.unwrap(), None);
    let run = s
        .enforce_retention(policy, now + Duration::days(2_558))
        .await
        .unwrap();
    assert!(run.audit_entries >= 3, "{run:?}");
}

async fn exchange_uids_map_to_our_user_key_and_age_out(s: CampaignStore) {
    use endcap_store::StoreRetention;
    let (uid, ours, mine) = ("c".repeat(64), "a".repeat(64), "b".repeat(64));
    assert_eq!(
        s.user_key_for_exchange_uid("adx", &uid).await.unwrap(),
        None
    );
    s.upsert_exchange_uid("adx", &uid, &ours).await.unwrap();
    assert_eq!(
        s.user_key_for_exchange_uid("adx", &uid).await.unwrap(),
        Some(ours.clone())
    );
    assert_eq!(
        s.user_key_for_exchange_uid("other", &uid).await.unwrap(),
        None,
        "pairs are per exchange"
    );
    s.upsert_exchange_uid("adx", &uid, &mine).await.unwrap();
    assert_eq!(
        s.user_key_for_exchange_uid("adx", &uid).await.unwrap(),
        Some(mine.clone()),
        "a later sync of the same id replaces the pair"
    );
    let now = Utc::now();
    let policy = StoreRetention::default();
    assert_eq!(
        s.enforce_retention(policy, now + Duration::days(89))
            .await
            .unwrap()
            .exchange_uids,
        0
    );
    assert_eq!(
        s.enforce_retention(policy, now + Duration::days(91))
            .await
            .unwrap()
            .exchange_uids,
        1
    );
    assert_eq!(
        s.user_key_for_exchange_uid("adx", &uid).await.unwrap(),
        None
    );
    s.upsert_exchange_uid("adx", &uid, &mine).await.unwrap();
    s.forget_people(
        "test",
        std::slice::from_ref(&mine),
        &[],
        serde_json::json!({}),
    )
    .await
    .unwrap();
    assert_eq!(
        s.user_key_for_exchange_uid("adx", &uid).await.unwrap(),
        None,
        "a data-subject deletion forgets the synced ids"
    );
}

/// A writer whose clock runs behind the last writer's must still be seen by the ad server's
/// change check: the marker is the database's change sequence, not the latest timestamp.
async fn a_change_from_a_slow_clock_is_seen(url: String) {
    let s = CampaignStore::connect(&url).await.unwrap();
    let adv = advertiser(&s, "Acme").await;
    let c = campaign(&s, &adv).await;
    // Another replica, its clock a year ahead, wrote last.
    let mut raw = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::query("UPDATE campaigns SET updated_at = updated_at + 31536000000000")
        .execute(&mut raw)
        .await
        .unwrap();
    let before = s.change_marker().await.unwrap();
    let mut p = patch(c.version);
    p.name = Some("Renamed".into());
    s.update_campaign("test", c.id, c.version, |cur| Ok(p.apply(cur)?))
        .await
        .unwrap();
    let after = s.change_marker().await.unwrap();
    assert!(
        after > before,
        "a change must move the marker: {before} -> {after}"
    );
    // Reads alone leave it where it is.
    let _ = s.get::<Campaign>(&c.id.to_string()).await.unwrap();
    assert_eq!(s.change_marker().await.unwrap(), after);
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() { super::$name(super::store(false).await).await; })*
            #[tokio::test]
            async fn reopening_keeps_data() {
                super::migrations_are_applied_once(endcap_store::testing::fresh_sqlite_url()).await;
            }
            #[tokio::test]
            async fn a_change_from_a_slow_clock_is_seen() {
                super::a_change_from_a_slow_clock_is_seen(endcap_store::testing::fresh_sqlite_url()).await;
            }
        }
        mod postgres {
            $(#[tokio::test] async fn $name() { super::$name(super::store(true).await).await; })*
            #[tokio::test]
            async fn reopening_keeps_data() {
                let url = endcap_store::testing::fresh_postgres_url(&super::pg_admin_url()).await.unwrap();
                super::migrations_are_applied_once(url).await;
            }
            #[tokio::test]
            async fn a_change_from_a_slow_clock_is_seen() {
                let url = endcap_store::testing::fresh_postgres_url(&super::pg_admin_url()).await.unwrap();
                super::a_change_from_a_slow_clock_is_seen(url).await;
            }
        }
    };
}

both_backends!(
    a_rotated_bootstrap_key_retires_the_one_before,
    objects_round_trip,
    a_stale_version_conflicts_and_changes_nothing,
    an_invalid_change_writes_nothing,
    an_idempotent_retry_returns_the_first_result,
    listing_pages_and_filters,
    the_audit_log_records_who_changed_what,
    api_keys_resolve_to_their_principal,
    missing_parents_are_not_found,
    concurrent_writers_of_one_version_cannot_both_win,
    concurrent_retries_with_one_key_create_one_object,
    the_ledger_keeps_the_highest_version_and_the_catalog_upserts,
    stock_outs_keep_the_last_fact_per_sku_and_store,
    a_segment_keeps_its_owner,
    segment_members_are_kept_both_ways_and_bounded,
    retention_deletes_what_is_past_its_age,
    exchange_uids_map_to_our_user_key_and_age_out,
);
