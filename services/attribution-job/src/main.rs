//! `attribution-job run` on files: reads exposures, receipts, the catalog and the identity
//! map (CSV), attributes with `endcap-attribution`, writes `by_campaign.csv`, `total.csv` and
//! `lines.csv` into `--out`. Bad rows are printed as `FILE:LINE: field: reason` and fail the
//! run unless `--skip-bad-rows`; the output files appear whole or not at all.
//!
//! With `--clickhouse` it reads exposures and current receipts from ClickHouse for the
//! purchase dates `--from..=--to` instead, and writes `attribution_credits` there (see
//! `clickhouse.rs`).

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
mod clickhouse;
mod lift;

use endcap_attribution::{
    attribute, by_campaign, by_campaign_csv, current_lines, keep_shard, lines_csv, read_catalog,
    read_current_receipts, read_exposures, read_identity, read_receipts, retailer_total,
    scope_name, total_csv, IdentityMap, RowError, Rules,
};
use endcap_core::{AttributionModel, AttributionSettings, MatchScope, WindowDays};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(name = "attribution-job", about = "Endcap's attribution batch")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Attribute receipts to exposures.
    Run(Box<RunArgs>),
    /// Measure each holdout campaign's incrementality over its flight (ClickHouse).
    Lift(LiftArgs),
}

#[derive(clap::Args)]
struct LiftArgs {
    /// ClickHouse URL, `http://host:8123[?database=NAME]` (ENDCAP_CLICKHOUSE).
    #[arg(long, env = "ENDCAP_CLICKHOUSE")]
    clickhouse: String,
    /// The campaign store (ENDCAP_DATABASE).
    #[arg(long, env = "ENDCAP_DATABASE")]
    database: String,
    /// Only this campaign.
    #[arg(long)]
    campaign: Option<String>,
    /// Fewest customers per arm before figures are written (privacy minimum).
    #[arg(long, default_value_t = 50)]
    min_customers: u64,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Exposures CSV: event_id,kind,ts,user_key,campaign_id,line_item_id,advertiser_id,skus.
    #[arg(long, conflicts_with = "clickhouse")]
    exposures: Option<PathBuf>,
    /// Receipt lines CSV: receipt_id,customer_key,store_id,ts,sku,quantity,amount_micros[,version,channel].
    #[arg(long, conflicts_with = "clickhouse")]
    receipts: Option<PathBuf>,
    /// Catalog CSV: sku,brand,category.
    #[arg(long, conflicts_with = "clickhouse")]
    catalog: Option<PathBuf>,
    /// Identity map CSV: user_key,customer_key (a user key without a row maps to itself).
    #[arg(long, conflicts_with = "clickhouse")]
    identity: Option<PathBuf>,
    /// Where the reports go (created if missing); files only.
    #[arg(long, conflicts_with = "clickhouse")]
    out: Option<PathBuf>,
    /// Read exposures and current receipts from ClickHouse and write `attribution_credits`
    /// there: `http://host:8123[?database=NAME]` (ENDCAP_CLICKHOUSE).
    #[arg(long, env = "ENDCAP_CLICKHOUSE")]
    clickhouse: Option<String>,
    /// The campaign store, for each campaign's windows and scope and the catalog
    /// (ENDCAP_DATABASE; ClickHouse runs only).
    #[arg(long, env = "ENDCAP_DATABASE")]
    database: Option<String>,
    /// First purchase date attributed, YYYY-MM-DD in --time-zone (ClickHouse runs).
    #[arg(long)]
    from: Option<String>,
    /// Last purchase date attributed, inclusive, YYYY-MM-DD in --time-zone (ClickHouse runs).
    #[arg(long)]
    to: Option<String>,
    /// The retailer's time zone: its days bound --from/--to and date the results
    /// (ClickHouse runs; in CSV files a date-only receipt time is the end of that UTC day).
    #[arg(long, env = "ENDCAP_TIME_ZONE", default_value = "UTC")]
    time_zone: String,
    /// last_touch, first_touch, linear, time_decay or position.
    #[arg(long, default_value = "last_touch")]
    model: String,
    /// Days after a click in which a purchase counts (1-90; default 14 on files, each
    /// campaign's own on ClickHouse).
    #[arg(long)]
    click_window_days: Option<i64>,
    /// Days after an impression in which a purchase counts (1-90; default 7 on files, each
    /// campaign's own on ClickHouse).
    #[arg(long)]
    view_window_days: Option<i64>,
    /// sku, brand or category (default sku on files, each campaign's own on ClickHouse).
    #[arg(long)]
    scope: Option<String>,
    /// Half-life of the time_decay model, days.
    #[arg(long, default_value_t = 7)]
    half_life_days: i64,
    /// Attribute the good rows and report the bad ones instead of failing (files).
    #[arg(long)]
    skip_bad_rows: bool,
    /// Only shard i of N (1-based), by a stable hash of the customer key: shards 1..N
    /// together give exactly what 1/1 gives.
    #[arg(long, default_value = "1/1")]
    shard: String,
    /// No progress bar (it is drawn only on a terminal anyway).
    #[arg(long)]
    quiet: bool,
}

/// The run's overrides of the campaigns' settings (each `None`: the campaign's own).
#[derive(Debug, Clone, Copy)]
struct Overrides {
    click: Option<WindowDays>,
    view: Option<WindowDays>,
    scope: Option<MatchScope>,
}

impl Overrides {
    fn parse(a: &RunArgs) -> anyhow::Result<Self> {
        Ok(Self {
            click: a
                .click_window_days
                .map(|d| WindowDays::parse(d, "--click-window-days"))
                .transpose()?,
            view: a
                .view_window_days
                .map(|d| WindowDays::parse(d, "--view-window-days"))
                .transpose()?,
            scope: a.scope.as_deref().map(scope).transpose()?,
        })
    }

    /// A campaign's settings with the run's overrides applied.
    fn apply(self, s: AttributionSettings) -> AttributionSettings {
        AttributionSettings {
            click_window_days: self.click.unwrap_or(s.click_window_days),
            view_window_days: self.view.unwrap_or(s.view_window_days),
            scope: self.scope.unwrap_or(s.scope),
            model: s.model,
        }
    }
}

/// What the store's catalog says of the SKUs (each once), as the engine reads it.
async fn store_catalog<'a>(
    store: &endcap_store::CampaignStore,
    skus: impl Iterator<Item = &'a String>,
) -> anyhow::Result<endcap_attribution::Catalog> {
    let skus: Vec<String> = skus
        .collect::<std::collections::HashSet<_>>()
        .into_iter()
        .cloned()
        .collect();
    Ok(store
        .catalog(&skus)
        .await?
        .into_iter()
        .map(|(sku, (brand, category))| (sku, endcap_attribution::Product { brand, category }))
        .collect())
}

/// Parses `i/N` (1-based) into a 0-based shard and the count.
fn shard(raw: &str) -> anyhow::Result<(u32, u32)> {
    let parsed = raw
        .split_once('/')
        .and_then(|(i, n)| Some((i.trim().parse::<u32>().ok()?, n.trim().parse::<u32>().ok()?)));
    match parsed {
        Some((i, n)) if n >= 1 && (1..=n).contains(&i) => Ok((i - 1, n)),
        _ => bail!("--shard {raw:?}: use i/N with 1 <= i <= N"),
    }
}

fn model(raw: &str) -> anyhow::Result<AttributionModel> {
    match AttributionModel::from_name(raw) {
        Some(m) => Ok(m),
        None => {
            bail!("--model {raw:?}: use last_touch, first_touch, linear, time_decay or position")
        }
    }
}

fn scope(raw: &str) -> anyhow::Result<MatchScope> {
    Ok(match raw {
        "sku" => MatchScope::Sku,
        "brand" => MatchScope::Brand,
        "category" => MatchScope::Category,
        other => bail!("--scope {other:?}: use sku, brand or category"),
    })
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Writes every report into a fresh directory beside `out`, then moves each file in:
/// a failed run leaves nothing half-written in `out`.
fn publish(out: &Path, files: &[(&str, String)]) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let staging = out.join(format!(".staging-{}", std::process::id()));
    std::fs::create_dir_all(&staging)?;
    for (name, body) in files {
        std::fs::write(staging.join(name), body)?;
    }
    for (name, _) in files {
        std::fs::rename(staging.join(name), out.join(name))?;
    }
    std::fs::remove_dir(&staging)?;
    Ok(())
}

fn run_files(a: &RunArgs) -> anyhow::Result<()> {
    let need = |p: &Option<PathBuf>, flag: &str| {
        p.clone()
            .with_context(|| format!("{flag} is required (or --clickhouse)"))
    };
    let (exposures_path, receipts_path, catalog_path, out) = (
        need(&a.exposures, "--exposures")?,
        need(&a.receipts, "--receipts")?,
        need(&a.catalog, "--catalog")?,
        need(&a.out, "--out")?,
    );
    let (shard_i, shard_n) = shard(&a.shard)?;
    let model = model(&a.model)?;
    let settings = Overrides::parse(a)?.apply(AttributionSettings {
        model,
        ..AttributionSettings::default()
    });
    let name = |p: &Path| p.display().to_string();
    // The receipts file (the big one) is read on a thread of its own while the others
    // are read and parsed; the receipts' fast reader needs them all first. A file that
    // cannot be read is reported in command-line order.
    let (exposures, receipts, catalog, identity) = std::thread::scope(|s| {
        let receipts = s.spawn(|| read(&receipts_path));
        let exposures = read(&exposures_path).map(|d| read_exposures(&name(&exposures_path), &d));
        let catalog = read(&catalog_path).map(|d| read_catalog(&name(&catalog_path), &d));
        let identity = match &a.identity {
            Some(p) => read(p).map(|d| read_identity(&name(p), &d)),
            None => Ok((IdentityMap::new(), Vec::new())),
        };
        let receipts = receipts
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        anyhow::Ok((exposures?, receipts?, catalog?, identity?))
    })?;
    let ((touches, exposure_errors), (catalog, catalog_errors), (identity, identity_errors)) =
        (exposures, catalog, identity);
    let (touches, _) = keep_shard(touches, Vec::new(), &identity, shard_i, shard_n);
    let for_campaign = move |_| settings;
    let rules = Rules {
        settings: &for_campaign,
        model,
        half_life_secs: a.half_life_days.max(1) * endcap_attribution::DAY_SECS,
    };
    // The fast reader keeps only the current lines an exposure can credit (the credits
    // and totals are the same) and counts the rest; on a file it does not read (quotes,
    // bad rows...) the general reader gives every line and the exact errors.
    let (lines, current, receipt_errors) = match read_current_receipts(
        &receipts, &touches, &catalog, &identity, &rules, shard_i, shard_n,
    ) {
        Some(r) => (r.creditable, r.current, Vec::new()),
        None => {
            let (lines, e) = read_receipts(&name(&receipts_path), &receipts);
            let (_, lines) = keep_shard(Vec::new(), lines, &identity, shard_i, shard_n);
            let lines = current_lines(lines, &HashMap::new());
            let n = lines.len();
            (lines, n, e)
        }
    };
    let errors: Vec<RowError> = exposure_errors
        .into_iter()
        .chain(receipt_errors)
        .chain(catalog_errors)
        .chain(identity_errors)
        .collect();
    for e in &errors {
        eprintln!("{e}");
    }
    if !errors.is_empty() && !a.skip_bad_rows {
        bail!(
            "{} bad rows; nothing written (--skip-bad-rows attributes the rest)",
            errors.len()
        );
    }
    let credits = attribute(&touches, &lines, &catalog, &identity, &rules);
    // lines.csv (the big report) is rendered on a thread of its own meanwhile the totals
    // are summed.
    let (per_campaign, total, lines_file, credited) = std::thread::scope(|s| {
        let lines_file = s.spawn(|| lines_csv(&credits, model.name(), scope_name(settings.scope)));
        let per_campaign = by_campaign(&credits);
        let total = retailer_total(&credits, &lines);
        let credited = credits
            .iter()
            .map(|c| (&c.receipt_id, c.version, c.line_no))
            .collect::<std::collections::HashSet<_>>()
            .len();
        let lines_file = lines_file
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        (per_campaign, total, lines_file, credited)
    });
    publish(
        &out,
        &[
            ("by_campaign.csv", by_campaign_csv(&per_campaign)),
            ("total.csv", total_csv(&total)),
            ("lines.csv", lines_file),
        ],
    )?;
    let summary = format!(
        "attributed {credited} of {current} receipt lines to {} campaigns ({} exposures, {} bad rows skipped) into {}",
        per_campaign.len(),
        touches.len(),
        errors.len(),
        out.display()
    );
    eprintln!("{summary}");
    // The process ends here: freeing millions of small strings one by one would take
    // longer than the attribution itself.
    std::mem::forget((touches, lines, credits, catalog, identity));
    Ok(())
}

fn run(a: RunArgs) -> anyhow::Result<()> {
    if a.clickhouse.is_none() {
        return run_files(&a);
    }
    let tz: chrono_tz::Tz = a
        .time_zone
        .parse()
        .map_err(|_| anyhow::anyhow!("--time-zone {:?}: not an IANA time zone", a.time_zone))?;
    let job = clickhouse::Job {
        clickhouse: a.clickhouse.clone().unwrap_or_default(),
        database: a
            .database
            .clone()
            .context("--database (ENDCAP_DATABASE) is required with --clickhouse")?,
        from: day(a.from.as_deref(), "--from")?,
        to: day(a.to.as_deref(), "--to")?,
        tz,
        model: model(&a.model)?,
        overrides: Overrides::parse(&a)?,
        half_life_secs: a.half_life_days.max(1) * endcap_attribution::DAY_SECS,
        shard: shard(&a.shard)?,
        progress: !a.quiet,
    };
    if job.to < job.from {
        bail!("--to must not be before --from");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let summary = runtime.block_on(clickhouse::run(&job))?;
    eprintln!("{summary}");
    Ok(())
}

/// A `YYYY-MM-DD` flag.
fn day(raw: Option<&str>, flag: &str) -> anyhow::Result<chrono::NaiveDate> {
    let raw = raw.with_context(|| format!("{flag} is required with --clickhouse"))?;
    chrono::NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .with_context(|| format!("{flag} {raw:?}: use YYYY-MM-DD"))
}

fn run_lift(a: LiftArgs) -> anyhow::Result<()> {
    let campaign = a
        .campaign
        .as_deref()
        .map(|c| uuid::Uuid::parse_str(c).with_context(|| format!("--campaign {c:?}: not a UUID")))
        .transpose()?;
    let job = lift::LiftJob {
        clickhouse: a.clickhouse,
        database: a.database,
        campaign,
        min_customers: a.min_customers,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let summary = runtime.block_on(lift::run(&job))?;
    eprintln!("{summary}");
    Ok(())
}

fn main() -> std::process::ExitCode {
    let result = match Cli::parse().command {
        Command::Run(args) => run(*args),
        Command::Lift(args) => run_lift(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("attribution-job: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
