//! Writes a simulated world as the CSV files `attribution-job run` reads, for the
//! attribution benchmark: `cargo run --release -p endcap-sim --example attribution_csv --
//! OUT_DIR [SHOPPERS] [DAYS] [CAMPAIGNS] [BASE_RATE] [EXPOSURE_RATE]`.

use endcap_sim::{simulate, SimCampaign, SimConfig};
use uuid::Uuid;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let out = std::path::PathBuf::from(args.next().unwrap_or_else(|| "attribution-data".into()));
    let mut num = |d: f64| args.next().and_then(|v| v.parse::<f64>().ok()).unwrap_or(d);
    let (shoppers, days, campaigns, base, exposure) =
        (num(2_500.0), num(60.0), num(50.0), num(0.2), num(0.0135));
    let cfg = SimConfig {
        shoppers: shoppers as usize,
        days: days as u32,
        start_ms: 1_789_948_800_000,
        base_rate: base,
        top_ctr: 0.05,
        stores: 20,
        campaigns: (0..campaigns as u128)
            .map(|i| SimCampaign {
                advertiser_id: Uuid::from_u128(0xa000 + i / 2),
                campaign_id: Uuid::from_u128(0xc000 + i),
                line_item_id: Uuid::from_u128(0xd000 + i),
                sku: format!("sku-{i}"),
                holdout_percent: 10,
                exposure_rate: exposure,
                lift_rate: 0.01,
                price_micros: 1_000_000 + (i as i64) * 37_000,
            })
            .collect(),
        seed: 42,
    };
    let w = simulate(&cfg);
    endcap_sim::write_csv(&w, &out)?;
    eprintln!(
        "{} exposures, {} receipt lines, {} shoppers into {}",
        w.touches.len(),
        w.receipts.len(),
        cfg.shoppers,
        out.display()
    );
    Ok(())
}
