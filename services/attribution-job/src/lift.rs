//! `attribution-job lift --clickhouse`: each holdout campaign's incrementality over its
//! flight. Reads the campaign's real exposures and ghost exposures (its holdout), the current
//! receipts of those customers from the flight's start to the flight's end plus the click
//! window (purchases the ads could still cause), and its billable spend; measures with
//! `endcap_attribution::lift` (Welch over customers); writes `campaign_lift`.

use anyhow::Context;
use chrono::Utc;
use endcap_attribution::{
    lift, Catalog, IdentityMap, LiftInput, Product, Touch, TouchKind, DAY_SECS,
};
use endcap_core::{Campaign, Status};
use endcap_events::{CampaignLiftRow, ClickHouseConfig, ReceiptLineEvent, Table};
use endcap_store::CampaignStore;
use std::collections::HashSet;
use uuid::Uuid;

/// What one lift run does.
pub struct LiftJob {
    /// ClickHouse URL.
    pub clickhouse: String,
    /// Campaign store URL.
    pub database: String,
    /// Only this campaign (default: every campaign with a holdout whose flight began).
    pub campaign: Option<Uuid>,
    /// Fewest customers per arm before figures are written.
    pub min_customers: u64,
}

/// One campaign's inputs.
struct Arms {
    campaign: Campaign,
    exposures: Vec<Touch>,
    ghosts: Vec<Touch>,
    skus: Vec<String>,
    from_ms: i64,
    to_ms: i64,
}

fn nan_or(x: Option<f64>) -> f64 {
    x.unwrap_or(f64::NAN)
}

/// Runs the job; returns the summary to print.
pub async fn run(job: &LiftJob) -> anyhow::Result<String> {
    let now_ms = Utc::now().timestamp_millis();
    let ch = ClickHouseConfig::from_url(&job.clickhouse)?;
    endcap_events::apply_schema(&ch)
        .await
        .context("cannot prepare ClickHouse")?;
    let store = CampaignStore::connect(&job.database)
        .await
        .context("cannot open the campaign store")?;
    let chosen: Vec<Campaign> = store
        .list_all::<Campaign>(None)
        .await?
        .into_iter()
        .filter(|c| job.campaign.is_none_or(|id| id == c.id.as_uuid()))
        .filter(|c| c.holdout_percent > 0 && c.status != Status::Draft)
        .filter(|c| c.start_at.timestamp_millis() <= now_ms)
        .collect();
    if let Some(id) = job.campaign {
        anyhow::ensure!(
            !chosen.is_empty(),
            "--campaign {id}: no such campaign with a holdout whose flight has begun"
        );
    }
    let identity: IdentityMap = endcap_events::identity_links(&ch)
        .await?
        .into_iter()
        .collect();
    let customer = |u: &str| identity.get(u).map_or(u, String::as_str).to_string();

    let mut all: Vec<Arms> = Vec::new();
    for c in chosen {
        let from_ms = c.start_at.timestamp_millis();
        let window = i64::from(c.attribution.click_window_days.days()) * DAY_SECS * 1_000;
        let to_ms = (c.end_at.timestamp_millis() + window).min(now_ms);
        let mut exposures = Vec::new();
        let mut ghosts = Vec::new();
        let mut skus: HashSet<String> = HashSet::new();
        for (table, kind) in [
            (Table::Impressions, TouchKind::View),
            (Table::Clicks, TouchKind::Click),
            (Table::ExposureHoldouts, TouchKind::View),
        ] {
            let id = c.id.as_uuid();
            endcap_events::stream_campaign_exposures(&ch, table, id, from_ms, to_ms, |e| {
                skus.extend(e.promoted_skus.iter().cloned());
                let t = Touch::from((&e, kind));
                if table == Table::ExposureHoldouts {
                    ghosts.push(t);
                } else {
                    exposures.push(t);
                }
            })
            .await?;
        }
        all.push(Arms {
            campaign: c,
            exposures,
            ghosts,
            skus: skus.into_iter().collect(),
            from_ms,
            to_ms,
        });
    }
    if all.is_empty() {
        return Ok("no campaign with a holdout has begun; nothing measured".into());
    }

    // The receipts of every customer in any arm, read once.
    let customers: HashSet<String> = all
        .iter()
        .flat_map(|a| a.exposures.iter().chain(&a.ghosts))
        .map(|t| customer(&t.user_key))
        .collect();
    let from = all.iter().map(|a| a.from_ms).min().unwrap_or(now_ms);
    let to = all.iter().map(|a| a.to_ms).max().unwrap_or(now_ms);
    let mut lines: Vec<ReceiptLineEvent> = Vec::new();
    endcap_events::stream_current_receipts(&ch, from, to, |r| {
        if customers.contains(&r.customer_key) {
            lines.push(r.into());
        }
    })
    .await?;
    let mut catalog: Catalog =
        crate::store_catalog(&store, all.iter().flat_map(|a| a.skus.iter())).await?;
    for l in &lines {
        catalog.entry(l.sku.clone()).or_insert_with(|| Product {
            brand: l.brand.clone(),
            category: l.category.clone(),
        });
    }

    let mut rows = Vec::new();
    let mut summary = Vec::new();
    for a in &all {
        let id = a.campaign.id.as_uuid();
        let spend_micros = endcap_billing::nanos_to_micros(i128::from(
            endcap_events::campaign_spend_nanos(&ch, id).await?,
        ));
        let in_flight: Vec<ReceiptLineEvent> = lines
            .iter()
            .filter(|l| (a.from_ms..a.to_ms).contains(&l.ts_ms))
            .cloned()
            .collect();
        let m = lift(
            &LiftInput {
                exposures: &a.exposures,
                ghosts: &a.ghosts,
                promoted_skus: &a.skus,
                scope: a.campaign.attribution.scope,
                holdout_percent: a.campaign.holdout_percent,
                spend_micros,
                min_customers: job.min_customers,
            },
            &in_flight,
            &catalog,
            &identity,
        );
        let sales = m.sales_lift;
        let inc = m.incremental_sales;
        let iroas = m.iroas;
        rows.push(CampaignLiftRow {
            campaign_id: id,
            advertiser_id: a.campaign.advertiser_id.as_uuid(),
            computed_at_ms: now_ms as u64,
            flight_from: (a.from_ms / 1_000).max(0) as u32,
            flight_to: (a.to_ms / 1_000).max(0) as u32,
            scope: endcap_attribution::scope_name(a.campaign.attribution.scope).into(),
            holdout_percent: a.campaign.holdout_percent,
            exposed_customers: m.exposed.customers,
            held_out_customers: m.held_out.customers,
            contaminated: m.contaminated,
            exposed_conversion_rate: m.exposed.conversion_rate,
            held_out_conversion_rate: m.held_out.conversion_rate,
            exposed_sales_per_customer: m.exposed.sales_per_customer,
            held_out_sales_per_customer: m.held_out.sales_per_customer,
            sales_lift: nan_or(sales.map(|e| e.value)),
            sales_lift_low: nan_or(sales.map(|e| e.low)),
            sales_lift_high: nan_or(sales.map(|e| e.high)),
            relative_lift: nan_or(m.relative_lift),
            incremental_sales: nan_or(inc.map(|e| e.value)),
            incremental_low: nan_or(inc.map(|e| e.low)),
            incremental_high: nan_or(inc.map(|e| e.high)),
            iroas: nan_or(iroas.map(|e| e.value)),
            iroas_low: nan_or(iroas.map(|e| e.low)),
            iroas_high: nan_or(iroas.map(|e| e.high)),
            spend_micros,
            suppressed: u8::from(m.suppressed),
            sample_ratio_mismatch: u8::from(m.sample_ratio_mismatch),
        });
        summary.push(match inc {
            Some(i) => format!(
                "{id}: {} exposed / {} held out, incremental sales {:.2} [{:.2}, {:.2}]{}",
                m.exposed.customers,
                m.held_out.customers,
                i.value / 1e6,
                i.low / 1e6,
                i.high / 1e6,
                if m.sample_ratio_mismatch {
                    " (sample ratio mismatch)"
                } else {
                    ""
                }
            ),
            None => format!(
                "{id}: {} exposed / {} held out, suppressed (under {} customers per arm)",
                m.exposed.customers, m.held_out.customers, job.min_customers
            ),
        });
    }
    endcap_events::write_lifts(&ch, &rows)
        .await
        .context("cannot write campaign_lift")?;
    Ok(format!(
        "measured {} campaigns (Welch 95% intervals over customers):\n{}",
        rows.len(),
        summary.join("\n")
    ))
}
