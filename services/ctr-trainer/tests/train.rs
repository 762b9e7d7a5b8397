//! `ctr-trainer train` as a user runs it, on a decision log from the shopper simulator:
//! the artifact it publishes, the floors that stop a bad model, the refusals; and the
//! trained model read by Endcap's predictor against LightGBM's own predictions.

use endcap_ctr::{FeatureSpec, Gbdt, Manifest, TrainingSet};
use endcap_sim::{simulate_ad_log, write_event_log, AdLogConfig};
use std::path::Path;
use std::process::{Command, Output};

const START_MS: i64 = 1_790_000_000_000 - 1_790_000_000_000 % 86_400_000;

fn sim_log(dir: &Path, requests: usize, seed: u64) {
    let log = simulate_ad_log(&AdLogConfig {
        requests,
        line_items: 40,
        shoppers: 400,
        start_ms: START_MS,
        days: 14,
        seed,
    });
    write_event_log(dir, &log.events).unwrap();
}

/// `ctr-trainer train --input LOG --out OUT` and `extra` flags.
fn train(log: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "train",
        "--input",
        log.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    trainer(&args)
}

fn trainer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ctr-trainer"))
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn manifest(dir: &Path) -> Manifest {
    serde_json::from_str(&std::fs::read_to_string(dir.join("model.json")).unwrap()).unwrap()
}

#[test]
fn a_model_trained_on_the_simulator_beats_the_prior_and_is_published_calibrated() {
    let tmp = tempfile::tempdir().unwrap();
    let (log, out) = (tmp.path().join("log"), tmp.path().join("model"));
    sim_log(&log, 40_000, 11);
    let o = train(&log, &out, &["--version", "sim-1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("published"), "{}", stderr(&o));
    // The summary, for whoever runs this with --nocapture.
    eprintln!("{}", stderr(&o));
    let m = manifest(&out);
    assert_eq!(
        (m.version.as_str(), m.feature_spec.as_str()),
        ("sim-1", endcap_ctr::SPEC_V3)
    );
    let metrics = m.metrics.clone().unwrap();
    let f = |k: &str| metrics[k].as_f64().unwrap();
    // The simulator's clicks depend on the line item, the position, the device and the
    // hour, which the prior ignores.
    assert!(f("auc") > f("prior_auc") + 0.03, "{metrics}");
    assert!(f("log_loss") < f("prior_log_loss"), "{metrics}");
    // Calibrated on held-out rows: the mean pCTR is near the observed CTR, and the held-out
    // log loss stays where it was (a model trained on every row is close to calibrated
    // already: calibration on a 10% window may cost it a little noise, never much).
    assert!(f("calibration_error") < 0.1, "{metrics}");
    assert!(
        f("log_loss") <= f("log_loss_uncalibrated") * 1.005,
        "{metrics}"
    );
    assert_eq!(metrics["calibration_table"].as_array().unwrap().len(), 10);
    let importance = metrics["feature_importance"].as_array().unwrap();
    assert_eq!(importance.len(), FeatureSpec::V3.names().len());
    assert!(m.calibration.is_some());
    assert_eq!(
        m.history.len(),
        40 * 5,
        "every line item on every placement"
    );
    // The ad server's loader takes it.
    let loaded = endcap_ctr::load_artifact(&out).unwrap();
    assert_eq!(loaded.model.version(), "sim-1");
    assert!(loaded.model.knows(Some(m.history[0].line_item)));
    assert!(!loaded
        .model
        .knows(Some(endcap_core::LineItemId::generate())));

    // The history columns carry signal of their own: v2 (without them) does worse.
    let v2 = tmp.path().join("model-v2");
    let o = train(&log, &v2, &["--spec", endcap_ctr::SPEC_V2]);
    assert!(o.status.success(), "{}", stderr(&o));
    eprintln!("{}", stderr(&o));
    let v2_auc = manifest(&v2).metrics.unwrap()["auc"].as_f64().unwrap();
    assert!(f("auc") > v2_auc + 0.005, "v3 {} vs v2 {v2_auc}", f("auc"));
}

#[test]
fn our_predictor_agrees_with_lightgbm_on_every_row_of_a_trained_model() {
    let tmp = tempfile::tempdir().unwrap();
    let (log, out) = (tmp.path().join("log"), tmp.path().join("model"));
    sim_log(&log, 15_000, 12);
    let o = train(
        &log,
        &out,
        &["--min-auc", "0", "--max-calibration-error", "10"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(out.join("model.txt")).unwrap();
    // The model has categorical splits, and the rows have missing values (unknown devices).
    assert!(
        text.lines()
            .any(|l| l.starts_with("num_cat=") && l != "num_cat=0"),
        "no categorical split"
    );
    let rows = endcap_events::training_rows_from_log(&log, 0, i64::MAX).unwrap();
    let set = TrainingSet::build(FeatureSpec::V3, &rows);
    let width = set.width();
    assert!(
        set.x.chunks(width).any(|r| r[6].is_nan()),
        "no missing device"
    );
    let ours = Gbdt::parse(&text).unwrap();
    let mut mine = Vec::new();
    ours.predict_batch(&set.x, width, &mut mine);
    let booster = lightgbm3::Booster::from_string(&text).unwrap();
    let theirs = booster.predict(&set.x, width as i32, true).unwrap();
    assert_eq!(mine.len(), theirs.len());
    let worst = mine
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(
        worst <= 1e-9,
        "largest difference {worst:e} over {} rows",
        mine.len()
    );
}

#[test]
fn calibration_puts_right_a_model_trained_on_a_sample_of_non_clicks() {
    let tmp = tempfile::tempdir().unwrap();
    let (log, out) = (tmp.path().join("log"), tmp.path().join("model"));
    sim_log(&log, 30_000, 14);
    let o = train(&log, &out, &["--negative-rate", "0.2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let metrics = manifest(&out).metrics.unwrap();
    let f = |k: &str| metrics[k].as_f64().unwrap();
    // Trained on a fifth of the non-clicks, the raw model says clicks are ~5x likelier than
    // they are; calibrated on an unsampled window, it is right again on the test window.
    assert!(
        f("log_loss") < f("log_loss_uncalibrated") * 0.9,
        "{metrics}"
    );
    assert!(f("calibration_error") < 0.1, "{metrics}");
    let o = trainer(&[
        "train",
        "--input",
        log.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--negative-rate",
        "0",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn a_model_below_its_floor_is_not_published() {
    let tmp = tempfile::tempdir().unwrap();
    let (log, out) = (tmp.path().join("log"), tmp.path().join("model"));
    sim_log(&log, 10_000, 13);
    let o = train(&log, &out, &["--min-auc", "0.99"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("below the floor 0.99"),
        "{}",
        stderr(&o)
    );
    assert!(!out.join("model.json").exists(), "nothing published");
}

#[test]
fn bad_input_is_refused_with_exit_2_and_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("model");
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let dir = empty.to_str().unwrap();
    let o_ = out.to_str().unwrap();
    for (args, says) in [
        (
            vec!["train", "--input", dir, "--out", o_, "--from", "last week"],
            "--from",
        ),
        (
            vec![
                "train",
                "--input",
                dir,
                "--out",
                o_,
                "--from",
                "2026-02-01",
                "--to",
                "2026-01-01",
            ],
            "--to must be after --from",
        ),
        (
            vec!["train", "--input", dir, "--out", o_, "--spec", "v9"],
            "--spec",
        ),
        (
            vec!["train", "--input", "/nonexistent/log", "--out", o_],
            "not a directory",
        ),
        (
            vec!["train", "--input", dir, "--out", o_],
            "not enough data",
        ),
    ] {
        let o = trainer(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
    }
    assert!(!out.exists());
}

#[test]
fn clickhouse_gives_the_same_training_rows_as_the_file_log() {
    use endcap_events::{apply_schema, BatchWriter, ClickHouseConfig, ClickHouseWriter};
    let base = std::env::var("ENDCAP_TEST_CLICKHOUSE_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:8123".into());
    let url = format!("{base}?database=endcap_t_{}", uuid_simple());
    let log = simulate_ad_log(&AdLogConfig {
        requests: 12_000,
        line_items: 20,
        shoppers: 1_000,
        start_ms: START_MS,
        days: 10,
        seed: 15,
    });
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    write_event_log(&dir, &log.events).unwrap();
    // The same events, written twice (a replayed batch), into ClickHouse.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cfg = ClickHouseConfig::from_url(&url).unwrap();
    rt.block_on(async {
        apply_schema(&cfg).await.unwrap();
        let w = ClickHouseWriter::new(&cfg);
        for chunk in log.events.chunks(20_000) {
            w.write(chunk).await.unwrap();
        }
        w.write(&log.events[..5_000]).await.unwrap();
    });
    let from_file = endcap_events::training_rows_from_log(&dir, 0, i64::MAX).unwrap();
    let mut from_ch = Vec::new();
    rt.block_on(endcap_events::stream_training_rows(
        &cfg,
        0,
        i64::MAX,
        |r| from_ch.push(r),
    ))
    .unwrap();
    assert!(!from_file.is_empty());
    assert_eq!(
        from_ch.len(),
        from_file.len(),
        "served, rendered, each once"
    );
    assert_eq!(from_ch, from_file);
    let clicks = from_file.iter().filter(|r| r.clicked == 1).count();
    assert!(clicks > 0 && clicks < from_file.len() / 5, "{clicks}");

    // And the trainer reads it.
    let out = tmp.path().join("model");
    let o = trainer(&[
        "train",
        "--clickhouse",
        &url,
        "--out",
        out.to_str().unwrap(),
        "--min-auc",
        "0",
        "--max-calibration-error",
        "10",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.join("model.json").exists());
}

fn uuid_simple() -> String {
    format!(
        "{:x}{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
        std::process::id()
    )
}
