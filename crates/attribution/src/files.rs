//! The CSV files of `attribution-job run` on files: exposures, receipts, catalog and
//! identity in; by campaign, total and per-line explanations out.

use crate::{Catalog, Credit, IdentityMap, Product, Totals, Touch, TouchKind};
use chrono::{DateTime, NaiveDate, Utc};
use endcap_events::ReceiptLineEvent;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use uuid::Uuid;

/// A refused input row, shown as `FILE:LINE: field: reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The file as named on the command line.
    pub file: String,
    /// 1-based line in the file.
    pub line: u64,
    /// The column.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file, self.line, self.field, self.reason
        )
    }
}

/// Reads rows of `T`, naming the line and column of each refusal; `check` validates a row.
fn rows<T, R>(
    file: &str,
    data: &[u8],
    mut check: impl FnMut(T) -> Result<R, (&'static str, String)>,
) -> (Vec<R>, Vec<RowError>)
where
    T: for<'de> Deserialize<'de>,
{
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(data);
    let headers = reader.headers().cloned().unwrap_or_default();
    for record in reader.records() {
        let (line, parsed) = match record {
            Ok(r) => {
                let line = r.position().map_or(0, csv::Position::line);
                (
                    line,
                    r.deserialize::<T>(Some(&headers)).map_err(|e| (line, e)),
                )
            }
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                (line, Err((line, e)))
            }
        };
        let err = |field: &str, reason: String| RowError {
            file: file.to_string(),
            line,
            field: field.to_string(),
            reason,
        };
        match parsed {
            Ok(row) => match check(row) {
                Ok(r) => out.push(r),
                Err((field, reason)) => errors.push(err(field, reason)),
            },
            Err((_, e)) => {
                let field = match e.kind() {
                    csv::ErrorKind::Deserialize { err, .. } => err
                        .field()
                        .and_then(|i| headers.get(i as usize))
                        .unwrap_or("row")
                        .to_string(),
                    _ => "row".to_string(),
                };
                errors.push(err(&field, e.to_string()));
            }
        }
    }
    (out, errors)
}

/// An RFC 3339 time, or a date alone meaning the end of that day (UTC: the files carry no
/// store time zone).
pub(crate) fn time_ms(raw: &str) -> Result<i64, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc).timestamp_millis());
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_milli_opt(23, 59, 59, 999))
        .map(|t| t.and_utc().timestamp_millis())
        .ok_or_else(|| format!("{raw:?} is not an RFC 3339 time or a YYYY-MM-DD date"))
}

fn uuid(raw: &str, field: &'static str) -> Result<Uuid, (&'static str, String)> {
    Uuid::parse_str(raw).map_err(|_| (field, format!("{raw:?} is not a UUID")))
}

#[derive(Deserialize)]
struct ExposureRow {
    event_id: String,
    kind: String,
    ts: String,
    user_key: String,
    campaign_id: String,
    line_item_id: String,
    advertiser_id: String,
    #[serde(default)]
    skus: String,
}

/// Exposures: `event_id,kind,ts,user_key,campaign_id,line_item_id,advertiser_id,skus`.
pub fn read_exposures(file: &str, data: &[u8]) -> (Vec<Touch>, Vec<RowError>) {
    // A clean file is read without serde (a tenth of the time); any other goes through
    // csv + serde below, for its exact errors.
    if let Some(touches) = crate::scan::exposures(data) {
        return (touches, Vec::new());
    }
    rows(file, data, |r: ExposureRow| {
        let kind = match r.kind.as_str() {
            "impression" => TouchKind::View,
            "click" => TouchKind::Click,
            other => return Err(("kind", format!("{other:?} must be impression or click"))),
        };
        if r.user_key.is_empty() {
            return Err(("user_key", "is required".into()));
        }
        Ok(Touch {
            event_id: uuid(&r.event_id, "event_id")?,
            kind,
            ts_ms: time_ms(&r.ts).map_err(|e| ("ts", e))?,
            user_key: r.user_key,
            advertiser_id: uuid(&r.advertiser_id, "advertiser_id")?,
            campaign_id: uuid(&r.campaign_id, "campaign_id")?,
            line_item_id: uuid(&r.line_item_id, "line_item_id")?,
            skus: r
                .skus
                .split('|')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        })
    })
}

#[derive(Deserialize)]
struct ReceiptRow {
    receipt_id: String,
    #[serde(default)]
    version: Option<i64>,
    customer_key: String,
    store_id: String,
    #[serde(default)]
    channel: Option<String>,
    ts: String,
    sku: String,
    quantity: i32,
    amount_micros: i64,
}

/// Receipt lines: `receipt_id,customer_key,store_id,ts,sku,quantity,amount_micros` and the
/// optional `version` (default 1) and `channel` (`in_store` default, `online`, `pickup`).
/// Lines are numbered in file order within each receipt and version.
pub fn read_receipts(file: &str, data: &[u8]) -> (Vec<ReceiptLineEvent>, Vec<RowError>) {
    let (mut lines, errors) = rows(file, data, |r: ReceiptRow| {
        let version = r.version.unwrap_or(1);
        if version < 1 {
            return Err(("version", "must be 1 or more".into()));
        }
        let channel = r
            .channel
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "in_store".into());
        if !["in_store", "online", "pickup"].contains(&channel.as_str()) {
            return Err((
                "channel",
                format!("{channel:?} must be in_store, online or pickup"),
            ));
        }
        for (field, v) in [
            ("receipt_id", &r.receipt_id),
            ("customer_key", &r.customer_key),
            ("sku", &r.sku),
        ] {
            if v.is_empty() {
                return Err((field, "is required".into()));
            }
        }
        if (r.quantity < 0) != (r.amount_micros < 0) && r.amount_micros != 0 {
            return Err((
                "amount_micros",
                "a return has a negative quantity and amount".into(),
            ));
        }
        Ok(ReceiptLineEvent {
            receipt_id: r.receipt_id,
            version,
            line_no: 0,
            customer_key: r.customer_key,
            store_id: r.store_id,
            channel,
            ts_ms: time_ms(&r.ts).map_err(|e| ("ts", e))?,
            sku: r.sku,
            brand: String::new(),
            category: String::new(),
            quantity: r.quantity,
            amount_micros: r.amount_micros,
        })
    });
    // Number lines in file order within each receipt and version (keys borrowed, then set).
    let numbers: Vec<u32> = {
        let mut next: HashMap<(&str, i64), u32, foldhash::fast::RandomState> =
            HashMap::with_capacity_and_hasher(lines.len(), Default::default());
        lines
            .iter()
            .map(|l| {
                let n = next.entry((l.receipt_id.as_str(), l.version)).or_insert(0);
                *n += 1;
                *n - 1
            })
            .collect()
    };
    for (l, n) in lines.iter_mut().zip(numbers) {
        l.line_no = n;
    }
    (lines, errors)
}

#[derive(Deserialize)]
struct CatalogRow {
    sku: String,
    #[serde(default)]
    brand: String,
    #[serde(default)]
    category: String,
}

/// The catalog: `sku,brand,category`.
pub fn read_catalog(file: &str, data: &[u8]) -> (Catalog, Vec<RowError>) {
    let (rows, errors) = rows(file, data, |r: CatalogRow| {
        if r.sku.is_empty() {
            return Err(("sku", "is required".into()));
        }
        Ok((
            r.sku,
            Product {
                brand: r.brand,
                category: r.category,
            },
        ))
    });
    (rows.into_iter().collect(), errors)
}

#[derive(Deserialize)]
struct IdentityRow {
    user_key: String,
    customer_key: String,
}

/// The identity map: `user_key,customer_key`.
pub fn read_identity(file: &str, data: &[u8]) -> (IdentityMap, Vec<RowError>) {
    let (rows, errors) = rows(file, data, |r: IdentityRow| {
        if r.user_key.is_empty() || r.customer_key.is_empty() {
            return Err(("user_key", "both keys are required".into()));
        }
        Ok((r.user_key, r.customer_key))
    });
    (rows.into_iter().collect(), errors)
}

/// Micros as a decimal with 6 places (`-1.500000`).
fn decimal6(micros: i64) -> String {
    let mut out = String::new();
    push_decimal6(&mut out, micros);
    out
}

/// [`decimal6`] appended to `out` (no string per number: `lines.csv` has two a line).
fn push_decimal6(out: &mut String, micros: i64) {
    let a = micros.unsigned_abs();
    if micros < 0 {
        out.push('-');
    }
    let _ = write!(out, "{}.{:06}", a / 1_000_000, a % 1_000_000);
}

/// A UUID in its hyphenated lower-case form appended to `out` (as `Display` writes it,
/// without the formatter's padding machinery: `lines.csv` has four a line).
fn push_uuid(out: &mut String, id: &Uuid) {
    out.push_str(id.hyphenated().encode_lower(&mut Uuid::encode_buffer()));
}

/// `by_campaign.csv`: `campaign_id,attributed_orders,attributed_units,attributed_sales`.
pub fn by_campaign_csv(totals: &BTreeMap<Uuid, Totals>) -> String {
    let mut out = String::from("campaign_id,attributed_orders,attributed_units,attributed_sales\n");
    for (c, t) in totals {
        let _ = writeln!(
            out,
            "{c},{},{},{}",
            t.orders,
            decimal6(t.units_micros),
            decimal6(t.sales_micros)
        );
    }
    out
}

/// `total.csv`: `attributed_orders,attributed_units,attributed_sales`.
pub fn total_csv(t: &Totals) -> String {
    format!(
        "attributed_orders,attributed_units,attributed_sales\n{},{},{}\n",
        t.orders,
        decimal6(t.units_micros),
        decimal6(t.sales_micros)
    )
}

/// `lines.csv`: which exposure earned what of which line, and by which rule.
pub fn lines_csv(credits: &[Credit], model: &str, scope: &str) -> String {
    let mut out = String::from(
        "receipt_id,version,line_no,customer_key,event_id,kind,advertiser_id,campaign_id,line_item_id,weight,attributed_units,attributed_sales,direct,lag_secs,model,scope\n",
    );
    // About 250 bytes a line: one allocation for the whole file.
    out.reserve(credits.len() * 256);
    for c in credits {
        let kind = match c.kind {
            TouchKind::Click => "click",
            TouchKind::View => "impression",
        };
        let _ = write!(
            out,
            "{},{},{},{},",
            c.receipt_id, c.version, c.line_no, c.customer_key
        );
        push_uuid(&mut out, &c.event_id);
        out.push(',');
        out.push_str(kind);
        for id in [&c.advertiser_id, &c.campaign_id, &c.line_item_id] {
            out.push(',');
            push_uuid(&mut out, id);
        }
        let _ = write!(out, ",{:.9},", c.weight);
        push_decimal6(&mut out, c.units_micros);
        out.push(',');
        push_decimal6(&mut out, c.amount_micros);
        let _ = writeln!(out, ",{},{},{model},{scope}", c.direct, c.lag_secs);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_rows_name_their_file_line_and_field() {
        let data = b"event_id,kind,ts,user_key,campaign_id,line_item_id,advertiser_id,skus\n\
            01a20000-0000-7000-8000-000000000001,click,2026-12-01T10:00:00Z,u1,01a20000-0000-7000-8000-000000000002,01a20000-0000-7000-8000-000000000003,01a20000-0000-7000-8000-000000000004,sku-1|sku-2\n\
            01a20000-0000-7000-8000-000000000005,glance,2026-12-01T10:00:00Z,u1,01a20000-0000-7000-8000-000000000002,01a20000-0000-7000-8000-000000000003,01a20000-0000-7000-8000-000000000004,sku-1\n";
        let (touches, errors) = read_exposures("e.csv", data);
        assert_eq!(touches.len(), 1);
        assert_eq!(touches[0].skus, vec!["sku-1", "sku-2"]);
        assert_eq!(
            errors[0].to_string(),
            "e.csv:3: kind: \"glance\" must be impression or click"
        );
    }

    #[test]
    fn receipts_default_their_version_and_channel_and_date_only_times_end_the_day() {
        let data = b"receipt_id,customer_key,store_id,ts,sku,quantity,amount_micros\nr1,c1,s1,2026-12-02,sku-1,1,4990000\nr1,c1,s1,2026-12-02,sku-2,x,1\n";
        let (lines, errors) = read_receipts("r.csv", data);
        assert_eq!(
            (lines[0].version, lines[0].channel.as_str()),
            (1, "in_store")
        );
        assert_eq!(lines[0].ts_ms, time_ms("2026-12-02T23:59:59.999Z").unwrap());
        assert_eq!((errors[0].line, errors[0].field.as_str()), (3, "quantity"));
    }

    #[test]
    fn decimals_have_six_places() {
        assert_eq!(decimal6(4_990_000), "4.990000");
        assert_eq!(decimal6(-1_500_000), "-1.500000");
        assert_eq!(decimal6(7), "0.000007");
    }
}
