//! The CTR model in the ad server: the artifact in `ENDCAP_MODEL_DIR` at start, a new one
//! swapped in while serving, a broken one refused and counted with the old model serving on;
//! the cold start before any model, and its exploration slots marked in the decision log.

use super::*;
use crate::decisions::seed;

/// A model over feature spec V1 whose two trees read `position` and `keyword_match`.
fn model_text(shift: f64) -> String {
    let names = endcap_ctr::FeatureSpec::V1.names().join(" ");
    format!(
        "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx=9\n\
         objective=binary sigmoid:1\nfeature_names={names}\n\n\
         Tree=0\nnum_leaves=2\nnum_cat=0\nsplit_feature=8\nthreshold=1.5\ndecision_type=2\n\
         left_child=-1\nright_child=-2\nleaf_value={} -3\nshrinkage=1\n\n\
         Tree=1\nnum_leaves=2\nnum_cat=0\nsplit_feature=3\nthreshold=0.5\ndecision_type=2\n\
         left_child=-1\nright_child=-2\nleaf_value=-1 0\nshrinkage=1\n\nend of trees\n",
        -2.0 + shift
    )
}

fn publish(dir: &std::path::Path, text: &str, version: &str) {
    // model.txt first, model.json last: the manifest is what names a new artifact.
    std::fs::write(dir.join("model.txt"), text).unwrap();
    std::fs::write(
        dir.join("model.json"),
        format!("{{\"version\": \"{version}\", \"feature_spec\": \"ctr-features-v1\"}}"),
    )
    .unwrap();
}

async fn metrics(app: &TestApp) -> String {
    let mut res = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    String::from_utf8_lossy(&res.body().await.unwrap()).to_string()
}

/// Waits (up to 10 s) until /metrics shows `line`.
async fn until(app: &TestApp, line: &str) -> String {
    for _ in 0..100 {
        let m = metrics(app).await;
        if m.contains(line) {
            return m;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("/metrics never showed {line:?}:\n{}", metrics(app).await);
}

#[actix_web::test]
async fn a_new_artifact_is_swapped_in_and_a_broken_one_leaves_the_old_serving() {
    let dir = tempfile::tempdir().unwrap();
    publish(dir.path(), &model_text(0.0), "m1");
    let d = dir.path().display().to_string();
    let app = spawn_with(
        false,
        None,
        &[("ENDCAP_MODEL_DIR", &d), ("ENDCAP_MODEL_RELOAD_SECS", "1")],
    )
    .await;
    until(&app, "endcap_model_info{version=\"m1\"} 1").await;

    // Decisions are scored by it: the decision log names the version.
    seed(&app, 0, 100_000_000).await;
    let r = app
        .send(
            "POST",
            "/v1/decisions",
            None,
            Some(json!({"user_key": format!("{:064x}", 1), "placements": [{"id": "home"}]})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let logged = app.logged(Table::Decisions).await;
    assert!(
        logged
            .iter()
            .any(|e| matches!(e, Event::Decision(d) if d.model_version == "m1")),
        "{logged:?}"
    );

    // A broken artifact: refused, counted, m1 keeps serving.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    publish(dir.path(), "this is not a model", "m-broken");
    let m = until(&app, "endcap_model_refused_total 1").await;
    assert!(m.contains("endcap_model_info{version=\"m1\"} 1"), "{m}");

    // A good one: swapped in.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    publish(dir.path(), &model_text(0.5), "m2");
    until(&app, "endcap_model_info{version=\"m2\"} 1").await;
}

#[actix_web::test]
async fn a_broken_artifact_at_start_serves_the_cold_start_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    publish(
        dir.path(),
        &model_text(0.0).replace("feature_names=placement", "feature_names=oops"),
        "bad",
    );
    let d = dir.path().display().to_string();
    let app = spawn_with(false, None, &[("ENDCAP_MODEL_DIR", &d)]).await;
    let m = metrics(&app).await;
    assert!(
        m.contains("endcap_model_info{version=\"cold-start-v1\"} 1"),
        "{m}"
    );
    assert!(m.contains("endcap_model_refused_total 1"), "{m}");
}

#[actix_web::test]
async fn without_a_model_the_cold_start_scores_and_explores_a_bounded_share_of_slots() {
    let app = spawn_with(false, None, &[("ENDCAP_EXPLORE_BPS", "500")]).await;
    seed(&app, 0, 100_000_000).await;
    let decisions = 300;
    for i in 0..decisions {
        let r = app
            .send(
                "POST",
                "/v1/decisions",
                None,
                Some(
                    json!({"user_key": format!("{:064x}", i + 1), "placements": [{"id": "home"}]}),
                ),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    let logged: Vec<_> = app
        .logged(Table::Decisions)
        .await
        .into_iter()
        .filter_map(|e| match e {
            Event::Decision(d) => Some(d),
            _ => None,
        })
        .collect();
    assert!(logged.len() >= decisions, "{}", logged.len());
    assert!(logged.iter().all(|d| d.model_version == "cold-start-v1"));
    let explored = logged.iter().filter(|d| d.explored).count();
    // 5% of 300 slots is 15: none at all, or more than 12%, would be a broken bound (each
    // has odds below one in a million).
    assert!(
        explored > 0 && explored * 100 <= logged.len() * 12,
        "{explored} of {} explored",
        logged.len()
    );
    // Slots that did not explore scored with the cold start's mean: with no counts yet,
    // the documented prior's rate.
    let plain: Vec<f64> = logged
        .iter()
        .filter(|d| !d.explored)
        .map(|d| d.pctr)
        .collect();
    assert!(plain.windows(2).all(|w| w[0] == w[1]), "{plain:?}");
}

#[actix_web::test]
async fn an_admin_can_reload_the_model_now_and_a_refusal_says_why() {
    let dir = tempfile::tempdir().unwrap();
    publish(dir.path(), &model_text(0.0), "m1");
    let d = dir.path().display().to_string();
    // The watch would take an hour: only the call reloads.
    let app = spawn_with(
        false,
        None,
        &[
            ("ENDCAP_MODEL_DIR", &d),
            ("ENDCAP_MODEL_RELOAD_SECS", "3600"),
        ],
    )
    .await;
    publish(dir.path(), &model_text(0.5), "m2");
    let r = app.send("POST", "/v1/admin/model/reload", None, None).await;
    assert_eq!(r.status, 401, "{:?}", r.body);
    let r = app
        .send("POST", "/v1/admin/model/reload", Some(ADMIN), None)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["version"], "m2");
    until(&app, "endcap_model_info{version=\"m2\"} 1").await;

    publish(dir.path(), "not a model", "m3");
    let r = app
        .send("POST", "/v1/admin/model/reload", Some(ADMIN), None)
        .await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert_eq!(r.body["error"], "model_refused", "{:?}", r.body);
    let m = metrics(&app).await;
    assert!(m.contains("endcap_model_info{version=\"m2\"} 1"), "{m}");
    assert!(m.contains("endcap_model_refused_total 1"), "{m}");

    let bare = spawn_with(false, None, &[]).await;
    let r = bare
        .send("POST", "/v1/admin/model/reload", Some(ADMIN), None)
        .await;
    assert_eq!(r.status, 409, "{:?}", r.body);
}

#[actix_web::test]
async fn metrics_can_have_a_listener_of_their_own() {
    let app = spawn_with(false, None, &[("ENDCAP_METRICS_LISTEN", "127.0.0.1:0")]).await;
    let port = app.metrics_port.expect("a metrics listener");
    assert_ne!(port, app.port);
    let r = app.get("/metrics").await;
    assert_eq!(r.status, 404, "not on the public listener");
    let mut res = app
        .client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let body = String::from_utf8_lossy(&res.body().await.unwrap()).to_string();
    assert!(body.contains("endcap_model_info"), "{body}");
}
