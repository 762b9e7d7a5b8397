//! Writes a simulated world as the CSV files `attribution-job run` reads, for the
//! attribution benchmark: `cargo run --release -p endcap-sim --example attribution_csv --
//! OUT_DIR [SHOPPERS] [DAYS] [CAMPAIGNS] [BASE_RATE] [EXPOSURE_RATE]`.

use endcap_attribution::TouchKind;
use endcap_sim::{simulate, SimCampaign, SimConfig};
use std::fmt::Write as _;
use uuid::Uuid;

fn iso(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

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
    std::fs::create_dir_all(&out)?;
    let mut e =
        String::from("event_id,kind,ts,user_key,campaign_id,line_item_id,advertiser_id,skus\n");
    for t in &w.touches {
        let kind = if t.kind == TouchKind::Click {
            "click"
        } else {
            "impression"
        };
        let _ = writeln!(
            e,
            "{},{kind},{},{},{},{},{},{}",
            t.event_id,
            iso(t.ts_ms),
            t.user_key,
            t.campaign_id,
            t.line_item_id,
            t.advertiser_id,
            t.skus.join("|")
        );
    }
    std::fs::write(out.join("exposures.csv"), e)?;
    let mut r =
        String::from("receipt_id,customer_key,store_id,ts,sku,quantity,amount_micros,channel\n");
    for l in &w.receipts {
        let _ = writeln!(
            r,
            "{},{},{},{},{},{},{},{}",
            l.receipt_id,
            l.customer_key,
            l.store_id,
            iso(l.ts_ms),
            l.sku,
            l.quantity,
            l.amount_micros,
            l.channel
        );
    }
    std::fs::write(out.join("receipts.csv"), r)?;
    let mut c = String::from("sku,brand,category\n");
    for (sku, p) in &w.catalog {
        let _ = writeln!(c, "{sku},{},{}", p.brand, p.category);
    }
    std::fs::write(out.join("catalog.csv"), c)?;
    let mut i = String::from("user_key,customer_key\n");
    for (u, k) in &w.identity {
        let _ = writeln!(i, "{u},{k}");
    }
    std::fs::write(out.join("identity.csv"), i)?;
    eprintln!(
        "{} exposures, {} receipt lines, {} shoppers into {}",
        w.touches.len(),
        w.receipts.len(),
        cfg.shoppers,
        out.display()
    );
    Ok(())
}
