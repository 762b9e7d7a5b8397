//! Seeds a campaign store for load tests: N active line items with creatives, of which
//! CANDIDATES target `search-top` with the keyword `milk` (the decision benchmark's
//! candidates) and 30 target offsite 300x250 banners; the rest spread over 50 other
//! placements. Usage: `seed sqlite://bench.db [N] [CANDIDATES] [HOLDOUT_PERCENT] [OTHERS]`
//! (holdout default 5: that share of users are ghosts of each campaign, logged at decision
//! time; OTHERS, default 0, of the remaining line items also target `search-top`, each with
//! a keyword of its own that the benchmark's search does not match).

use endcap_core::*;
use endcap_store::CampaignStore;
use serde_json::json;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "sqlite://bench.db".into());
    let n: usize = args.next().map(|v| v.parse()).transpose()?.unwrap_or(1_000);
    let candidates: usize = args.next().map(|v| v.parse()).transpose()?.unwrap_or(50);
    let holdout: u8 = args.next().map(|v| v.parse()).transpose()?.unwrap_or(5);
    let others: usize = args.next().map(|v| v.parse()).transpose()?.unwrap_or(0);
    let store = CampaignStore::connect(&url).await?;
    let now = chrono::Utc::now();
    let per_campaign = 10;
    let mut advertisers = Vec::new();
    for a in 0..50 {
        let new = AdvertiserInput {
            name: format!("Brand {a}"),
            currency: "USD".into(),
            domains: vec![],
            frequency_cap: None,
        }
        .validate()?;
        advertisers.push(store.create_advertiser("seed", new, None).await?.value);
    }
    let mut campaign = None;
    for i in 0..n {
        if i % per_campaign == 0 {
            let adv = &advertisers[(i / per_campaign) % advertisers.len()];
            let input: CampaignInput = serde_json::from_value(json!({
                "name": format!("Campaign {}", i / per_campaign), "status": "active",
                "budget": {"total_micros": 1_000_000_000_000i64, "daily_micros": 100_000_000_000i64},
                "start_at": (now - chrono::Duration::days(1)).to_rfc3339(),
                "end_at": (now + chrono::Duration::days(60)).to_rfc3339(),
                "holdout_percent": holdout
            }))?;
            campaign = Some(
                store
                    .create_campaign("seed", adv.id, None, |_| Ok(input.validate()?))
                    .await?
                    .value,
            );
        }
        let Some(c) = campaign.clone() else { continue };
        let (targeting, pricing) = if i < candidates {
            (
                json!({"placements": ["search-top"], "keywords": ["milk", format!("kw-{i}")]}),
                json!({"model": "cpc", "bid_micros": 300_000 + (i as i64 * 7_919) % 2_000_000}),
            )
        } else if i >= candidates + 30 && i < candidates + 30 + others {
            (
                json!({"placements": ["search-top"], "keywords": [format!("kw-{i}")]}),
                json!({"model": "cpc", "bid_micros": 500_000}),
            )
        } else if i < candidates + 30 {
            (
                json!({"placements": ["offsite:banner:300x250"]}),
                json!({"model": "cpm", "bid_micros": 1_000_000 + (i as i64 * 7_919) % 4_000_000}),
            )
        } else {
            (
                json!({"placements": [format!("placement-{}", i % 50)], "keywords": [format!("kw-{i}")]}),
                json!({"model": "cpc", "bid_micros": 500_000}),
            )
        };
        let li_input: LineItemInput = serde_json::from_value(json!({
            "name": format!("Line item {i}"), "status": "active", "promoted_skus": [format!("sku-{i}")],
            "pricing": pricing, "targeting": targeting, "frequency_cap": {"max": 50, "per": "day"}
        }))?;
        let li = store
            .create_line_item("seed", c.id, None, |c| Ok(li_input.validate(c)?))
            .await?
            .value;
        let cr: CreativeInput = if i >= candidates && i < candidates + 30 {
            serde_json::from_value(
                json!({"kind": "banner", "image_url": "https://cdn.example/b.png",
                "width": 300, "height": 250, "click_url": format!("https://brand{}.example/", i % 50)}),
            )?
        } else {
            serde_json::from_value(
                json!({"kind": "sponsored_product", "sku": format!("sku-{i}"),
                "click_url": format!("https://shop.example/p/sku-{i}")}),
            )?
        };
        let cr = store
            .create_creative("seed", li.id, None, |li| Ok(cr.validate(li)?))
            .await?
            .value;
        store.approve_creative("seed", &cr).await?;
        if (i + 1) % 10_000 == 0 {
            eprintln!("seeded {} line items", i + 1);
        }
    }
    eprintln!("seeded {n} line items ({candidates} search-top candidates) into {url}");
    Ok(())
}
