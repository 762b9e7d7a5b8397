//! `ctr-trainer train`: the decision log in, an artifact out.

use crate::{Outcome, Refused};
use anyhow::Context;
use clap::Args;
use endcap_ctr::train::{train, Floors, TrainConfig, TrainError};
use endcap_ctr::{FeatureSpec, TrainingSet};
use endcap_events::{ClickHouseConfig, TrainingRead};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;

/// Flags of `train`.
#[derive(Args)]
pub struct TrainArgs {
    /// A file event log directory (the ad server's ENDCAP_EVENT_DIR, or an export).
    #[arg(
        long,
        conflicts_with = "clickhouse",
        required_unless_present = "clickhouse"
    )]
    input: Option<PathBuf>,
    /// ClickHouse URL (http://host:8123/database).
    #[arg(long)]
    clickhouse: Option<String>,
    /// First decision time: YYYY-MM-DD (UTC midnight) or RFC 3339. Default: the beginning.
    #[arg(long)]
    from: Option<String>,
    /// Decisions before this time: YYYY-MM-DD or RFC 3339. Default: now.
    #[arg(long)]
    to: Option<String>,
    /// Artifact directory (model.txt, model.json), as the ad server's ENDCAP_MODEL_DIR.
    #[arg(long)]
    out: PathBuf,
    /// Feature spec to train on.
    #[arg(long, default_value = endcap_ctr::SPEC_V3)]
    spec: String,
    /// Model version (default: ctr-YYYYMMDDTHHMMSSZ).
    #[arg(long)]
    version: Option<String>,
    /// Least test AUC to publish.
    #[arg(long, default_value_t = Floors::default().min_auc)]
    min_auc: f64,
    /// Largest relative gap of mean pCTR to observed CTR on the test window.
    #[arg(long, default_value_t = Floors::default().max_calibration_error)]
    max_calibration_error: f64,
    /// Most boosting rounds.
    #[arg(long, default_value_t = TrainConfig::default().num_iterations)]
    rounds: u32,
    /// Leaves per tree.
    #[arg(long, default_value_t = TrainConfig::default().num_leaves)]
    leaves: u32,
    /// LightGBM threads (0: all cores).
    #[arg(long, default_value_t = 0)]
    threads: u32,
    /// Stop after this many rounds without a better validation log loss (0: never).
    #[arg(long, default_value_t = TrainConfig::default().early_stopping_rounds)]
    early_stopping: u32,
    /// Share of non-clicks to train on, in (0, 1] (calibration restores the scale).
    #[arg(long, default_value_t = 1.0)]
    negative_rate: f64,
}

/// A time flag as ms since the epoch.
fn parse_time(flag: &str, v: &str) -> Result<i64, Refused> {
    if let Ok(d) = chrono::NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(t.and_utc().timestamp_millis());
        }
    }
    chrono::DateTime::parse_from_rfc3339(v.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            Refused(format!(
                "--{flag}: {v:?} is not a date (YYYY-MM-DD) or an RFC 3339 time"
            ))
        })
}

fn spinner(msg: &'static str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {pos} rows ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(msg);
    bar
}

fn read_rows(args: &TrainArgs, from: i64, to: i64) -> anyhow::Result<Vec<TrainingRead>> {
    let bar = spinner("reading the decision log");
    let rows = if let Some(url) = &args.clickhouse {
        let config = ClickHouseConfig::from_url(url).context("--clickhouse")?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let mut rows = Vec::new();
        rt.block_on(endcap_events::stream_training_rows(
            &config,
            from,
            to,
            |r| {
                rows.push(r);
                bar.inc(1);
            },
        ))
        .context("reading the decision log from ClickHouse")?;
        rows
    } else {
        let dir = args.input.as_deref().unwrap_or(std::path::Path::new("."));
        let rows = endcap_events::training_rows_from_log(dir, from, to)
            .with_context(|| format!("reading the event log in {}", dir.display()))?;
        bar.inc(rows.len() as u64);
        rows
    };
    bar.finish_and_clear();
    Ok(rows)
}

/// Runs `train`.
pub fn run(args: &TrainArgs) -> anyhow::Result<Outcome> {
    let Some(spec) = FeatureSpec::parse(&args.spec) else {
        return Ok(Outcome::Refused(Refused(format!(
            "--spec: unknown feature spec {:?} (known: {}, {}, {})",
            args.spec,
            endcap_ctr::SPEC_V1,
            endcap_ctr::SPEC_V2,
            endcap_ctr::SPEC_V3
        ))));
    };
    let from = match args.from.as_deref().map(|v| parse_time("from", v)) {
        Some(Err(r)) => return Ok(Outcome::Refused(r)),
        Some(Ok(t)) => t,
        None => 0,
    };
    let to = match args.to.as_deref().map(|v| parse_time("to", v)) {
        Some(Err(r)) => return Ok(Outcome::Refused(r)),
        Some(Ok(t)) => t,
        None => chrono::Utc::now().timestamp_millis() + 1,
    };
    if to <= from {
        return Ok(Outcome::Refused(Refused(
            "--to must be after --from".to_string(),
        )));
    }
    if let Some(dir) = &args.input {
        if !dir.is_dir() {
            return Ok(Outcome::Refused(Refused(format!(
                "--input: {} is not a directory",
                dir.display()
            ))));
        }
    }
    if !(args.negative_rate > 0.0 && args.negative_rate <= 1.0) {
        return Ok(Outcome::Refused(Refused(format!(
            "--negative-rate: {} is not in (0, 1]",
            args.negative_rate
        ))));
    }
    let rows = read_rows(args, from, to)?;
    let set = TrainingSet::build(spec, &rows);
    drop(rows);
    let version = args
        .version
        .clone()
        .unwrap_or_else(|| format!("ctr-{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ")));
    let config = TrainConfig {
        num_iterations: args.rounds.max(1),
        num_leaves: args.leaves.max(2),
        threads: args.threads,
        negative_rate: args.negative_rate,
        early_stopping_rounds: args.early_stopping,
        ..TrainConfig::default()
    };
    let bar = ProgressBar::new(u64::from(config.num_iterations));
    bar.set_style(
        ProgressStyle::with_template("{bar:40} boosting round {pos}/{len} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let trained = match train(&set, &config, &version, &mut |round, _| {
        bar.set_position(u64::from(round))
    }) {
        Ok(t) => t,
        Err(e @ TrainError::NotEnoughData(_)) => {
            return Ok(Outcome::Refused(Refused(e.to_string())))
        }
        Err(e) => return Err(e.into()),
    };
    bar.finish_and_clear();
    let m = &trained.metrics;
    let summary = format!(
        "model {version} ({}): {} rows ({} train / {} validation / {} calibration / {} test), \
         {} trees\n  test AUC {:.4} (prior {:.4}); log loss {:.5} calibrated, {:.5} raw, \
         {:.5} prior; calibration error {:.3}\n  top features: {}",
        spec.version(),
        set.len(),
        m.train.rows,
        m.valid.rows,
        m.calibration.rows,
        m.test.rows,
        m.trees,
        m.auc,
        m.prior_auc,
        m.log_loss,
        m.log_loss_uncalibrated,
        m.prior_log_loss,
        m.calibration_error,
        m.feature_importance
            .iter()
            .take(5)
            .map(|(n, g)| format!("{n} {g:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let floors = Floors {
        min_auc: args.min_auc,
        max_calibration_error: args.max_calibration_error,
    };
    if let Some(why) = m.below(&floors) {
        eprintln!("{summary}");
        return Ok(Outcome::BelowFloor(why));
    }
    endcap_ctr::write_artifact(&args.out, &trained.model_text, &trained.manifest)
        .with_context(|| format!("writing the artifact into {}", args.out.display()))?;
    Ok(Outcome::Done(format!(
        "{summary}\n  published to {}",
        args.out.display()
    )))
}
