//! A finished report, as JSON or as CSV lines.

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// A report: columns, rows, totals, and what finance needs to trust it.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `delivery`, `attribution` or `search_terms`.
    pub report: &'static str,
    /// First day.
    pub from: NaiveDate,
    /// Last day, inclusive.
    pub to: NaiveDate,
    /// The retailer's time zone, whose days these are.
    pub time_zone: String,
    /// Which date each figure is counted on.
    pub dated_by: String,
    /// Column names.
    pub columns: Vec<String>,
    /// One row per group.
    pub rows: Vec<Vec<Value>>,
    /// Sums over the rows (grouping columns null).
    pub totals: Vec<Value>,
    /// "Complete through" per source.
    pub freshness: BTreeMap<String, String>,
    /// Share of receipts and sales with a customer seen by an exposure (attribution).
    pub match_rate: Option<Value>,
    /// Late figures of closed months posted to this report's days, itemised.
    pub adjustments: Vec<crate::Adjustment>,
    /// How to read it.
    pub notes: Vec<String>,
}

fn cell(v: &Value) -> String {
    let s = match v {
        Value::Null => String::new(),
        // Text a spreadsheet would run as a formula (a shopper's search can be anything) is
        // written as text. Money never starts so; negative amounts start with '-' and stay.
        Value::String(s) if s.starts_with(['=', '+', '@', '\t', '\r']) => format!("'{s}"),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    // Quote what CSV needs quoted; ids, dates, numbers and channel names never do.
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

impl Report {
    /// The CSV lines: the header, one line per row, then a `total` line. Yielded one at a
    /// time so a large report streams.
    pub fn csv_lines(&self) -> impl Iterator<Item = String> + '_ {
        let header = std::iter::once(format!("{}\n", self.columns.join(",")));
        let rows = self.rows.iter().map(|r| {
            let mut line = r.iter().map(cell).collect::<Vec<_>>().join(",");
            line.push('\n');
            line
        });
        let total = std::iter::once({
            let mut t: Vec<String> = self.totals.iter().map(cell).collect();
            if let Some(first) = t.first_mut().filter(|f| f.is_empty()) {
                *first = "total".into();
            }
            format!("{}\n", t.join(","))
        });
        header.chain(rows).chain(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_a_spreadsheet_would_run_is_written_as_text() {
        assert_eq!(
            cell(&Value::from("=HYPERLINK(\"x\")")),
            "\"'=HYPERLINK(\"\"x\"\")\""
        );
        assert_eq!(cell(&Value::from("@sum")), "'@sum");
        assert_eq!(cell(&Value::from("-1.500000")), "-1.500000");
        assert_eq!(cell(&Value::from("whole milk")), "whole milk");
    }
}
