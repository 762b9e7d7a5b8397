//! `attribution-job run --clickhouse`: one run over the purchase dates `--from..=--to` (the
//! retailer's days). Streams the current receipt lines of its shard's customers, their
//! exposures back by the longest window before `--from`, and their purchases of the 52 weeks
//! before (new-to-brand); attributes with each campaign's windows and scope (or the run's
//! overrides); writes `attribution_credits` whole line by whole line, then the run record.
//! A rerun of the same dates replaces each line's results (see the 0003 migration).

use crate::Overrides;
use anyhow::Context;
use chrono::{NaiveDate, TimeZone, Utc};
use endcap_attribution::{
    attribute, retailer_total, scope_name, settings_version, shard_of, BrandHistory, Catalog,
    Eligibility, IdentityMap, Product, Rules, Touch, TouchKind, DAY_SECS, NTB_LOOKBACK_DAYS,
};
use endcap_core::{AttributionModel, AttributionSettings, Campaign};
use endcap_events::{ClickHouseConfig, CreditRow, CurrentVersions, ReceiptLineEvent, RunRow};
use endcap_store::CampaignStore;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// What one run does.
pub struct Job {
    /// ClickHouse URL.
    pub clickhouse: String,
    /// Campaign store URL.
    pub database: String,
    /// First purchase date (retailer's days).
    pub from: NaiveDate,
    /// Last purchase date, inclusive.
    pub to: NaiveDate,
    /// The retailer's time zone.
    pub tz: chrono_tz::Tz,
    /// How credit is split.
    pub model: AttributionModel,
    /// The run's overrides of campaign settings.
    pub overrides: Overrides,
    /// Time-decay half-life, seconds.
    pub half_life_secs: i64,
    /// (shard, shards), 0-based.
    pub shard: (u32, u32),
    /// Draw a progress spinner on a terminal.
    pub progress: bool,
}

/// Milliseconds of the local midnight that starts `day` in `tz`.
fn local_midnight_ms(day: NaiveDate, tz: chrono_tz::Tz) -> anyhow::Result<i64> {
    let midnight = day.and_hms_opt(0, 0, 0).context("date out of range")?;
    // `earliest()`: a midnight skipped by DST has no instant; take the first that exists.
    let t = tz
        .from_local_datetime(&midnight)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(midnight + chrono::Duration::hours(1)))
                .earliest()
        })
        .context("no local midnight for the date")?;
    Ok(t.with_timezone(&Utc).timestamp_millis())
}

/// The retailer-local date of `ts_ms`, as ClickHouse `Date` (days since 1970-01-01).
fn local_day(ts_ms: i64, tz: chrono_tz::Tz) -> u16 {
    let date = chrono::DateTime::from_timestamp_millis(ts_ms)
        .map(|t| t.with_timezone(&tz).date_naive())
        .unwrap_or_default();
    (date - NaiveDate::default())
        .num_days()
        .clamp(0, i64::from(u16::MAX)) as u16
}

fn spinner(on: bool, what: &'static str) -> indicatif::ProgressBar {
    if !on {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} {pos} rows ({per_sec}) {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.set_message(what);
    bar
}

/// Runs the job; returns the summary to print.
pub async fn run(job: &Job) -> anyhow::Result<String> {
    let run_at_ms = Utc::now().timestamp_millis();
    let run_id = Uuid::now_v7().to_string();
    let (shard_i, shard_n) = job.shard;
    let from_ms = local_midnight_ms(job.from, job.tz)?;
    let to_ms = local_midnight_ms(job.to.succ_opt().context("--to out of range")?, job.tz)?;
    let ch = ClickHouseConfig::from_url(&job.clickhouse)?;
    endcap_events::apply_schema(&ch)
        .await
        .context("cannot prepare ClickHouse")?;
    let store = CampaignStore::connect(&job.database)
        .await
        .context("cannot open the campaign store")?;

    // Each campaign's rules, the run's overrides applied.
    let fallback = job.overrides.apply(AttributionSettings::default());
    let settings: HashMap<Uuid, AttributionSettings> = store
        .list_all::<Campaign>(None)
        .await?
        .into_iter()
        .map(|c| (c.id.as_uuid(), job.overrides.apply(c.attribution)))
        .collect();
    let longest_days = settings
        .values()
        .chain([&fallback])
        .map(|s| s.click_window_days.days().max(s.view_window_days.days()))
        .max()
        .unwrap_or(14);
    let version = settings_version(
        job.model,
        job.half_life_secs,
        &settings.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>(),
    );

    let identity: IdentityMap = endcap_events::identity_links(&ch)
        .await?
        .into_iter()
        .collect();
    let customer = |user: &str| identity.get(user).map_or(user, String::as_str).to_string();
    let mine = |customer_key: &str| shard_of(customer_key, shard_n) == shard_i;

    // This shard's exposures, back by the longest window before --from.
    let bar = spinner(job.progress, "exposures");
    let since = from_ms - i64::from(longest_days) * DAY_SECS * 1_000;
    let mut touches: Vec<Touch> = Vec::new();
    // Exposure id -> (time, offsite): what a credit row names beyond the credit itself.
    let mut seen: HashMap<Uuid, (i64, bool)> = HashMap::new();
    for (clicks, kind) in [(false, TouchKind::View), (true, TouchKind::Click)] {
        endcap_events::stream_exposures(&ch, clicks, since, to_ms, |e| {
            bar.inc(1);
            if mine(&customer(&e.user_key)) {
                seen.insert(e.event_id, (e.ts_ms as i64, e.channel == "offsite"));
                touches.push(Touch::from((&e, kind)));
            }
        })
        .await?;
    }
    bar.finish_and_clear();
    let for_campaign = |id: Uuid| settings.get(&id).copied().unwrap_or(fallback);
    let rules = Rules {
        settings: &for_campaign,
        model: job.model,
        half_life_secs: job.half_life_secs,
    };
    let eligible = Eligibility::new(&touches, &identity, &rules);

    // The catalog: promoted SKUs from the store now; each line's own brand and category
    // (recorded when the receipt arrived) as the lines come.
    let mut catalog: Catalog =
        crate::store_catalog(&store, touches.iter().flat_map(|t| t.skus.iter())).await?;

    // One pass over the receipt lines from 52 weeks before --from: the purchase history of
    // new-to-brand, and the lines to attribute. A line counts when it belongs to its
    // receipt's current version (as `receipts_current` decides) and once per key (replays
    // not merged yet); it is kept only when an exposure can earn it.
    let versions = CurrentVersions::read(&ch).await?;
    let bar = spinner(job.progress, "receipt lines");
    let history_from = from_ms - NTB_LOOKBACK_DAYS * DAY_SECS * 1_000;
    let mut earliest = i64::MAX;
    let mut in_dates: HashSet<u64, foldhash::fast::RandomState> = HashSet::default();
    let mut kept: HashSet<(String, i64, u32)> = HashSet::new();
    let hasher = foldhash::fast::RandomState::default();
    let mut history = BrandHistory::new(history_from);
    let mut lines: Vec<ReceiptLineEvent> = Vec::new();
    endcap_events::stream_receipt_lines(&ch, history_from, to_ms, |r| {
        bar.inc(1);
        let ts = r.ts_ms as i64;
        earliest = earliest.min(ts);
        if !mine(r.customer_key) || !versions.is_current(r.receipt_id, r.version) {
            return;
        }
        if ts >= from_ms {
            // Counted by a 64-bit hash of the key: the count is the summary's, not money.
            in_dates.insert(std::hash::BuildHasher::hash_one(
                &hasher,
                (r.receipt_id, r.version, r.line_no),
            ));
        }
        if !eligible.exposed(r.customer_key) {
            return;
        }
        history.add(r.customer_key, r.brand, r.quantity, ts);
        if !catalog.contains_key(r.sku) {
            catalog.insert(
                r.sku.to_string(),
                Product {
                    brand: r.brand.to_string(),
                    category: r.category.to_string(),
                },
            );
        }
        if ts >= from_ms
            && eligible.can_credit(r.customer_key, ts, r.sku, &catalog)
            && kept.insert((r.receipt_id.to_string(), r.version, r.line_no))
        {
            lines.push(r.into());
        }
    })
    .await?;
    bar.finish_and_clear();
    let in_dates = in_dates.len() as u64;
    drop(kept);
    history.set_since(earliest.min(from_ms).max(history_from));
    history.seal();

    let credits = attribute(&touches, &lines, &catalog, &identity, &rules);
    let total = retailer_total(&credits, &lines);

    // Rows: credits come grouped by line (attribute walks the lines in order).
    let by_key: HashMap<(&str, i64, u32), &ReceiptLineEvent> = lines
        .iter()
        .map(|l| ((l.receipt_id.as_str(), l.version, l.line_no), l))
        .collect();
    let model = job.model.name();
    let row = |l: &ReceiptLineEvent| CreditRow {
        run_id: run_id.clone(),
        run_at_ms: run_at_ms as u64,
        model: model.to_string(),
        settings_version: version.clone(),
        receipt_id: l.receipt_id.clone(),
        receipt_version: l.version,
        line_no: l.line_no,
        customer_key: l.customer_key.clone(),
        store_id: l.store_id.clone(),
        sales_channel: l.channel.clone(),
        purchase_ts: (l.ts_ms.max(0) / 1_000) as u32,
        purchase_ts_ms: l.ts_ms.max(0) as u64,
        purchase_date: local_day(l.ts_ms, job.tz),
        sku: l.sku.clone(),
        brand: l.brand.clone(),
        category: l.category.clone(),
        line_quantity: l.quantity,
        line_amount_micros: l.amount_micros,
        exposure_id: Uuid::nil(),
        exposure_kind: String::new(),
        exposure_ts_ms: 0,
        ad_channel: String::new(),
        advertiser_id: Uuid::nil(),
        campaign_id: Uuid::nil(),
        line_item_id: Uuid::nil(),
        weight: 0.0,
        attributed_micros: 0,
        attributed_units_micros: 0,
        direct: 0,
        new_to_brand: 0,
        ntb_lookback_days: 0,
        lag_secs: 0,
        scope: String::new(),
        window_days: 0,
    };
    let mut rows: Vec<CreditRow> = Vec::with_capacity(credits.len());
    let mut credited: HashSet<(String, i64, u32)> = HashSet::new();
    for c in &credits {
        let Some(l) = by_key.get(&(c.receipt_id.as_str(), c.version, c.line_no)) else {
            continue;
        };
        let s = for_campaign(c.campaign_id);
        let brand = catalog
            .get(&l.sku)
            .map_or(l.brand.as_str(), |p| p.brand.as_str());
        credited.insert((c.receipt_id.clone(), c.version, c.line_no));
        let (exposure_ts, is_offsite) = seen.get(&c.event_id).copied().unwrap_or_default();
        rows.push(CreditRow {
            exposure_id: c.event_id,
            exposure_kind: match c.kind {
                TouchKind::Click => "click",
                TouchKind::View => "impression",
            }
            .to_string(),
            exposure_ts_ms: exposure_ts.max(0) as u64,
            ad_channel: if is_offsite { "offsite" } else { "onsite" }.to_string(),
            advertiser_id: c.advertiser_id,
            campaign_id: c.campaign_id,
            line_item_id: c.line_item_id,
            weight: c.weight,
            attributed_micros: c.amount_micros,
            attributed_units_micros: c.units_micros,
            direct: u8::from(c.direct),
            new_to_brand: u8::from(history.is_new(&l.customer_key, brand, l.ts_ms)),
            ntb_lookback_days: history.lookback_days(l.ts_ms),
            lag_secs: c.lag_secs,
            scope: scope_name(s.scope).to_string(),
            window_days: match c.kind {
                TouchKind::Click => s.click_window_days.days(),
                TouchKind::View => s.view_window_days.days(),
            },
            ..row(l)
        });
    }
    // Lines an earlier run credited and this one does not get a marker, so the earlier
    // credit stops counting.
    let earlier = endcap_events::credited_lines(&ch, model, from_ms, to_ms).await?;
    let mut markers = 0;
    let mut marked: HashSet<(String, i64, u32)> = HashSet::new();
    for e in earlier {
        let key = (e.receipt_id.clone(), e.receipt_version, e.line_no);
        if !mine(&e.customer_key) || credited.contains(&key) || !marked.insert(key) {
            continue;
        }
        rows.push(row(&ReceiptLineEvent::from(e)));
        markers += 1;
    }
    let run = RunRow {
        run_id: run_id.clone(),
        run_at_ms: run_at_ms as u64,
        model: model.to_string(),
        settings_version: version.clone(),
        from_ts: (from_ms / 1_000) as u32,
        to_ts: (to_ms / 1_000) as u32,
        shard_index: shard_i,
        shard_count: shard_n,
        lines: in_dates,
        credited_lines: credited.len() as u64,
        exposures: touches.len() as u64,
    };
    endcap_events::write_run(&ch, &rows, &run)
        .await
        .context("cannot write attribution_credits")?;
    Ok(format!(
        "run {run_id}: {model}, settings {version}, purchases {}..={} ({}), shard {}/{}: \
         {} current receipt lines, {} exposures, {} lines credited ({} credits, {} earlier \
         credits withdrawn); retailer total {} orders, {:.6} sales",
        job.from,
        job.to,
        job.tz.name(),
        shard_i + 1,
        shard_n,
        in_dates,
        touches.len(),
        credited.len(),
        credits.len(),
        markers,
        total.orders,
        total.sales_micros as f64 / 1e6,
    ))
}
