//! `attribution-job run` on files: reads exposures, receipts, the catalog and the identity
//! map (CSV), attributes with `endcap-attribution`, writes `by_campaign.csv`, `total.csv` and
//! `lines.csv` into `--out`. Bad rows are printed as `FILE:LINE: field: reason` and fail the
//! run unless `--skip-bad-rows`; the output files appear whole or not at all.
//! (The ClickHouse path, `--shard` and incrementality come with the rest of issue 8.)

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use endcap_attribution::{
    attribute, by_campaign, by_campaign_csv, current_lines, keep_shard, lines_csv, read_catalog,
    read_current_receipts, read_exposures, read_identity, read_receipts, retailer_total, total_csv,
    IdentityMap, RowError, Rules,
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
    Run(RunArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    /// Exposures CSV: event_id,kind,ts,user_key,campaign_id,line_item_id,advertiser_id,skus.
    #[arg(long)]
    exposures: PathBuf,
    /// Receipt lines CSV: receipt_id,customer_key,store_id,ts,sku,quantity,amount_micros[,version,channel].
    #[arg(long)]
    receipts: PathBuf,
    /// Catalog CSV: sku,brand,category.
    #[arg(long)]
    catalog: PathBuf,
    /// Identity map CSV: user_key,customer_key (a user key without a row maps to itself).
    #[arg(long)]
    identity: Option<PathBuf>,
    /// last_touch, first_touch, linear, time_decay or position.
    #[arg(long, default_value = "last_touch")]
    model: String,
    /// Days after a click in which a purchase counts (1-90).
    #[arg(long, default_value_t = 14)]
    click_window_days: i64,
    /// Days after an impression in which a purchase counts (1-90).
    #[arg(long, default_value_t = 7)]
    view_window_days: i64,
    /// sku, brand or category.
    #[arg(long, default_value = "sku")]
    scope: String,
    /// Half-life of the time_decay model, days.
    #[arg(long, default_value_t = 7)]
    half_life_days: i64,
    /// Where the reports go (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Attribute the good rows and report the bad ones instead of failing.
    #[arg(long)]
    skip_bad_rows: bool,
    /// Only shard i of N (1-based), by a stable hash of the customer key: shards 1..N
    /// together give exactly what 1/1 gives.
    #[arg(long, default_value = "1/1")]
    shard: String,
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
    Ok(match raw {
        "last_touch" => AttributionModel::LastTouch,
        "first_touch" => AttributionModel::FirstTouch,
        "linear" => AttributionModel::Linear,
        "time_decay" => AttributionModel::TimeDecay,
        "position" | "position_based" => AttributionModel::PositionBased,
        other => {
            bail!("--model {other:?}: use last_touch, first_touch, linear, time_decay or position")
        }
    })
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

fn run(a: RunArgs) -> anyhow::Result<()> {
    let (shard_i, shard_n) = shard(&a.shard)?;
    let settings = AttributionSettings {
        click_window_days: WindowDays::parse(a.click_window_days, "--click-window-days")?,
        view_window_days: WindowDays::parse(a.view_window_days, "--view-window-days")?,
        scope: scope(&a.scope)?,
        model: model(&a.model)?,
    };
    let name = |p: &Path| p.display().to_string();
    // The receipts file (the big one) is read on a thread of its own while the others
    // are read and parsed; the receipts' fast reader needs them all first. A file that
    // cannot be read is reported in command-line order.
    let (exposures, receipts, catalog, identity) = std::thread::scope(|s| {
        let receipts = s.spawn(|| read(&a.receipts));
        let exposures = read(&a.exposures).map(|d| read_exposures(&name(&a.exposures), &d));
        let catalog = read(&a.catalog).map(|d| read_catalog(&name(&a.catalog), &d));
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
        model: settings.model,
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
            let (lines, e) = read_receipts(&name(&a.receipts), &receipts);
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
        let lines_file = s.spawn(|| lines_csv(&credits, &a.model, &a.scope));
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
        &a.out,
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
        a.out.display()
    );
    eprintln!("{summary}");
    // The process ends here: freeing millions of small strings one by one would take
    // longer than the attribution itself.
    std::mem::forget((touches, lines, credits, catalog, identity));
    Ok(())
}

fn main() -> std::process::ExitCode {
    let Command::Run(args) = Cli::parse().command;
    match run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("attribution-job: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
