//! The search-term report: which shopper searches (`context.query`) matched which of a line
//! item's keywords, and what they delivered: impressions, clicks, spend and attributed sales.
//!
//! Rows come from the decision log (served ads whose line item matched a keyword of a
//! search), dated by the decision's day in the retailer's time zone; each decision brings
//! its impression, click, billable ledger charges and attributed sales (credits of the chosen
//! model whose exposure is that decision), whenever they happened. For advertisers, a search
//! term made by fewer shoppers than the privacy minimum is folded into one `(other)` row.

use crate::{apportion, money, ratio, Dim, Finance, Query, Report, ReportError};
use clickhouse::Row;
use endcap_billing::nanos_to_micros;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

/// What a search term under the privacy minimum is shown as.
pub const OTHER_TERMS: &str = "(other)";

/// One group x search term x keyword, as ClickHouse sums it.
#[derive(Row, Deserialize)]
struct TermRow {
    key: String,
    query: String,
    keyword: String,
    how: String,
    imps: u64,
    clks: u64,
    charge: i64,
    sales: i64,
}

/// How many distinct shoppers made a search term.
#[derive(Row, Deserialize)]
struct Shoppers {
    query: String,
    shoppers: u64,
}

/// Sums of one report row.
#[derive(Default, Clone, Copy)]
struct Sums {
    impressions: u64,
    clicks: u64,
    charge_nanos: i64,
    sales_micros: i64,
}

impl Sums {
    fn add(&mut self, r: &TermRow) {
        self.impressions += r.imps;
        self.clicks += r.clks;
        self.charge_nanos += r.charge;
        self.sales_micros += r.sales;
    }

    fn add_sums(&mut self, o: &Sums) {
        self.impressions += o.impressions;
        self.clicks += o.clicks;
        self.charge_nanos += o.charge_nanos;
        self.sales_micros += o.sales_micros;
    }
}

/// The search term a row is shown under: itself, or [`OTHER_TERMS`] when fewer than `min`
/// shoppers made it and the caller is held to the privacy minimum.
fn shown_term(query: &str, shoppers: &HashMap<String, u64>, min: u64, privacy: bool) -> String {
    if privacy && shoppers.get(query).copied().unwrap_or(0) < min {
        OTHER_TERMS.to_string()
    } else {
        query.to_string()
    }
}

fn values(s: &Sums, charge_micros: i64) -> Vec<Value> {
    vec![
        json!(s.impressions),
        json!(s.clicks),
        if s.impressions > 0 {
            json!(ratio(s.clicks as f64 / s.impressions as f64))
        } else {
            Value::Null
        },
        json!(money(charge_micros)),
        if s.clicks > 0 {
            json!(money(charge_micros / s.clicks as i64))
        } else {
            Value::Null
        },
        json!(money(s.sales_micros)),
        if charge_micros > 0 {
            json!(ratio(s.sales_micros as f64 / charge_micros as f64))
        } else {
            Value::Null
        },
    ]
}

impl Finance {
    /// `GET /v1/reports/search-terms`: per group (default campaign), search term, keyword
    /// and match type: impressions, clicks, CTR, advertiser charge, CPC, attributed sales
    /// (net, of `q.model`) and ROAS.
    pub async fn search_terms(&self, q: &Query) -> Result<Report, ReportError> {
        q.refuse(&[Dim::SalesChannel], "search-terms")?;
        let tz = self.tz.name();
        let filter = Self::filter(q);
        let key = q
            .group_by
            .iter()
            .map(|d| match d {
                Dim::Advertiser => "toString(advertiser_id)",
                Dim::Campaign => "toString(campaign_id)",
                Dim::LineItem => "toString(line_item_id)",
                Dim::Day => "toString(day)",
                Dim::AdChannel => "toString(channel)",
                Dim::SalesChannel => "''",
            })
            .collect::<Vec<_>>();
        let key_sql = if key.is_empty() {
            "''".to_string()
        } else {
            format!("concat({}, '')", key.join(", '\\t', "))
        };
        // The decisions in the report's days (served, a search, a keyword that matched it).
        let decided = format!(
            "FROM decisions FINAL WHERE arm = 'served' AND query != '' AND matched_keyword != '' \
             AND toDate(ts, '{tz}') >= toDate(?) AND toDate(ts, '{tz}') <= toDate(?){filter}"
        );
        // What follows a decision happens after it: a day's margin before `from` bounds the
        // scan of the event tables whatever the time zone.
        let since = (q.from - chrono::Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .map_or(0, |t| t.and_utc().timestamp().max(0));
        // ClickHouse 18.16: one JOIN per SELECT, so the four per-decision sources are one
        // UNION ALL summed by decision, joined once; UNION ALL branches name and type every
        // column alike.
        let sql = format!(
            "SELECT {key_sql} AS key, query, matched_keyword AS keyword, match_type AS how, \
             sum(impressions) AS imps, sum(clicks) AS clks, sum(charge_nanos) AS charge, \
             sum(sales_micros) AS sales FROM ( \
               SELECT decision_id, toDate(ts, '{tz}') AS day, advertiser_id, campaign_id, \
               line_item_id, channel, query, matched_keyword, match_type {decided} \
             ) ANY LEFT JOIN ( \
               SELECT decision_id, sum(i) AS impressions, sum(c) AS clicks, sum(n) AS charge_nanos, \
               sum(s) AS sales_micros FROM ( \
                 SELECT decision_id, toUInt64(1) AS i, toUInt64(0) AS c, toInt64(0) AS n, toInt64(0) AS s \
                 FROM impressions FINAL WHERE decision_ts >= toDateTime(?){filter} \
                 UNION ALL SELECT decision_id, toUInt64(0) AS i, toUInt64(1) AS c, toInt64(0) AS n, toInt64(0) AS s \
                 FROM clicks FINAL WHERE decision_ts >= toDateTime(?){filter} \
                 UNION ALL SELECT decision_id, toUInt64(0) AS i, toUInt64(0) AS c, toInt64(charge_nanos) AS n, \
                 toInt64(0) AS s FROM charges FINAL WHERE billable = 1 AND ts >= toDateTime(?){filter} \
                 UNION ALL SELECT exposure_id AS decision_id, toUInt64(0) AS i, toUInt64(0) AS c, toInt64(0) AS n, \
                 toInt64(attributed_micros) AS s FROM attribution_current \
                 WHERE model = ? AND exposure_ts_ms >= ?{filter} \
               ) GROUP BY decision_id \
             ) USING decision_id \
             GROUP BY key, query, keyword, how ORDER BY key, query, keyword, how"
        );
        let since_secs = u32::try_from(since).unwrap_or(0);
        let client = self.ch.client();
        let rows: Vec<TermRow> = client
            .query(&sql)
            .bind(q.from.to_string())
            .bind(q.to.to_string())
            .bind(since_secs)
            .bind(since_secs)
            .bind(since_secs)
            .bind(&q.model)
            .bind(u64::from(since_secs) * 1000)
            .fetch_all()
            .await?;
        let shoppers: HashMap<String, u64> = if q.privacy {
            // Shoppers without a user key (opted out) count one per request.
            client
                .query(&format!(
                    "SELECT query, uniqExact(if(user_key = '', toString(request_id), user_key)) AS shoppers \
                     {decided} GROUP BY query"
                ))
                .bind(q.from.to_string())
                .bind(q.to.to_string())
                .fetch_all::<Shoppers>()
                .await?
                .into_iter()
                .map(|s| (s.query, s.shoppers))
                .collect()
        } else {
            HashMap::new()
        };
        let mut groups: BTreeMap<(Vec<String>, String, String, String), Sums> = BTreeMap::new();
        let mut folded = 0usize;
        for r in &rows {
            let dims: Vec<String> = if q.group_by.is_empty() {
                Vec::new()
            } else {
                r.key.split('\t').map(String::from).collect()
            };
            let term = shown_term(&r.query, &shoppers, self.min_customers, q.privacy);
            folded += usize::from(term != r.query);
            groups
                .entry((dims, term, r.keyword.clone(), r.how.clone()))
                .or_default()
                .add(r);
        }
        let mut total = Sums::default();
        for s in groups.values() {
            total.add_sums(s);
        }
        // As in the delivery report: the total is the ledger's nanos rounded once, shared
        // out to the rows by largest remainder.
        let charge_total = nanos_to_micros(i128::from(total.charge_nanos));
        let charges = apportion(
            &groups.values().map(|s| s.charge_nanos).collect::<Vec<_>>(),
            charge_total,
        );
        let mut columns: Vec<String> = q.group_by.iter().map(|d| d.name().to_string()).collect();
        columns.extend(
            [
                "search_term",
                "keyword",
                "match_type",
                "impressions",
                "clicks",
                "ctr",
                "advertiser_charge",
                "cpc",
                "attributed_sales",
                "roas",
            ]
            .map(String::from),
        );
        let out_rows = groups
            .iter()
            .zip(charges)
            .map(|((k, s), charge)| {
                let mut row: Vec<Value> = k.0.iter().cloned().map(Value::from).collect();
                row.extend([json!(k.1), json!(k.2), json!(k.3)]);
                row.extend(values(s, charge));
                row
            })
            .collect();
        let mut totals: Vec<Value> = vec![Value::Null; q.group_by.len() + 3];
        totals.extend(values(&total, charge_total));
        let mut notes = vec![
            "rows are served ads whose line item matched a keyword of the shopper's search (context.query); searches are lower-cased with single spaces".to_string(),
            "dated by the decision (the search), in the retailer's time zone; each decision's impression, click, billable charges and attributed sales count whenever they happened, so spend can differ from the delivery report's, which dates spend by accounting day".into(),
            format!("attributed_sales: net sales credited to these decisions by the {} model; roas = attributed_sales / advertiser_charge", q.model),
            "the decision log is kept ENDCAP_DECISION_RETENTION_DAYS days (default 90): older days show no rows".into(),
        ];
        if q.privacy {
            notes.push(format!(
                "search terms made by fewer than {} shoppers are grouped as {OTHER_TERMS} ({folded} folded)",
                self.min_customers
            ));
        }
        Ok(Report {
            report: "search_terms",
            from: q.from,
            to: q.to,
            time_zone: tz.to_string(),
            dated_by: "the decision's (search's) date in the retailer's time zone".into(),
            columns,
            rows: out_rows,
            totals,
            freshness: self.freshness(&q.model).await?,
            match_rate: None,
            adjustments: Vec::new(),
            notes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_term_under_the_privacy_minimum_is_other_for_advertisers_only() {
        let seen = HashMap::from([("milk".to_string(), 50), ("rare".to_string(), 49)]);
        assert_eq!(shown_term("milk", &seen, 50, true), "milk");
        assert_eq!(shown_term("rare", &seen, 50, true), OTHER_TERMS);
        assert_eq!(shown_term("unseen", &seen, 50, true), OTHER_TERMS);
        assert_eq!(shown_term("rare", &seen, 50, false), "rare");
    }

    #[test]
    fn roas_and_cpc_come_from_the_rows_rounded_charge() {
        let s = Sums {
            impressions: 4,
            clicks: 2,
            charge_nanos: 3_000_000_000,
            sales_micros: 9_000_000,
        };
        let v = values(&s, 3_000_000);
        assert_eq!(v[2], json!(0.5));
        assert_eq!(v[3], json!("3.000000"));
        assert_eq!(v[4], json!("1.500000"));
        assert_eq!(v[5], json!("9.000000"));
        assert_eq!(v[6], json!(3.0));
        let none = values(&Sums::default(), 0);
        assert!(none[2].is_null() && none[4].is_null() && none[6].is_null());
    }
}
