//! The simulated world as the CSV files `attribution-job run` reads, for the attribution
//! benchmark and the tests that compare the file and ClickHouse paths.

use crate::World;
use endcap_attribution::TouchKind;
use std::fmt::Write as _;
use std::path::Path;

/// An RFC 3339 UTC time with milliseconds, without a date library.
pub fn iso(ms: i64) -> String {
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

/// Writes `exposures.csv`, `receipts.csv` (with `version` and `channel`), `catalog.csv` and
/// `identity.csv` into `out`.
pub fn write_csv(w: &World, out: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
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
    let mut r = String::from(
        "receipt_id,customer_key,store_id,ts,sku,quantity,amount_micros,channel,version\n",
    );
    for l in &w.receipts {
        let _ = writeln!(
            r,
            "{},{},{},{},{},{},{},{},{}",
            l.receipt_id,
            l.customer_key,
            l.store_id,
            iso(l.ts_ms),
            l.sku,
            l.quantity,
            l.amount_micros,
            l.channel,
            l.version
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
    Ok(())
}
