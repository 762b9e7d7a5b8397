//! `endcap-ingest`: reads a POS export, identity map, catalog or inventory file and uploads it to the
//! campaign API in parts, mapping every refused line back to its line in the file.

use endcap_ingest::LineError;
use serde::Deserialize;
use std::time::Duration;

/// What is being uploaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Receipts (`/v1/receipts`): NDJSON, or CSV with `endcap_ingest::RECEIPT_CSV_HEADER`.
    Receipts,
    /// Identity links (`/v1/identity-map`): NDJSON or CSV.
    Identity,
    /// Catalog entries (`/v1/catalog`): NDJSON or CSV.
    Catalog,
    /// Per-store availability (`/v1/inventory`): NDJSON or CSV `sku,store_id,in_stock`.
    Inventory,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Kind::Receipts => "/v1/receipts",
            Kind::Identity => "/v1/identity-map",
            Kind::Catalog => "/v1/catalog",
            Kind::Inventory => "/v1/inventory",
        }
    }
}

/// Records to send, each with its line in the file, plus lines refused before sending.
pub fn records(kind: Kind, file_name: &str, data: &[u8]) -> (Vec<(u64, String)>, Vec<LineError>) {
    if kind == Kind::Receipts && file_name.to_ascii_lowercase().ends_with(".csv") {
        return endcap_ingest::csv_receipts(data);
    }
    let mut lines = endcap_ingest::Lines::default();
    let mut out = lines.feed(data);
    out.extend(lines.finish());
    out.retain(|(_, l)| !endcap_ingest::is_blank(l));
    (out, Vec::new())
}

/// The campaign API's answer to one part.
#[derive(Debug, Default, Deserialize)]
pub struct PartSummary {
    /// Stored.
    pub accepted: u64,
    /// Refused.
    pub rejected: u64,
    /// Already stored.
    #[serde(default)]
    pub duplicates: u64,
    /// Refused lines (numbered within the part).
    #[serde(default)]
    pub errors: Vec<LineError>,
}

/// Totals over a whole file.
#[derive(Debug, Default)]
pub struct Totals {
    /// Stored.
    pub accepted: u64,
    /// Refused.
    pub rejected: u64,
    /// Already stored.
    pub duplicates: u64,
    /// Refused lines, numbered by file line.
    pub errors: Vec<LineError>,
}

/// Uploads records in parts of `part_size`, calling `progress` after each part with the
/// number of records done. A part that fails to send is retried; a refusal of the request
/// itself (auth, size) stops the upload.
pub async fn upload(
    api: &str,
    key: &str,
    kind: Kind,
    records: &[(u64, String)],
    part_size: usize,
    mut progress: impl FnMut(usize),
) -> anyhow::Result<Totals> {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(300))
        .finish();
    let mut totals = Totals::default();
    let mut done = 0;
    for part in records.chunks(part_size.max(1)) {
        let body = part
            .iter()
            .map(|(_, r)| r.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        let mut attempt = 0;
        let summary: PartSummary = loop {
            attempt += 1;
            let sent = client
                .post(format!("{}{}", api.trim_end_matches('/'), kind.path()))
                .insert_header(("Authorization", format!("Bearer {key}")))
                .insert_header(("Content-Type", "application/x-ndjson"))
                .send_body(body.clone())
                .await;
            match sent {
                Ok(mut res) => {
                    let status = res.status().as_u16();
                    let bytes = res.body().limit(64 * 1024 * 1024).await?;
                    if status == 200 || status == 422 {
                        break serde_json::from_slice(&bytes)?;
                    }
                    // Uploads are idempotent, so a server error is worth another try.
                    if status >= 500 && attempt < 3 {
                        actix_web::rt::time::sleep(Duration::from_secs(attempt)).await;
                        continue;
                    }
                    anyhow::bail!(
                        "the campaign API answered {status}: {}",
                        String::from_utf8_lossy(&bytes)
                    );
                }
                Err(e) if attempt < 3 => {
                    eprintln!(
                        "part starting at line {} failed to send ({e}); retrying",
                        part[0].0
                    );
                    actix_web::rt::time::sleep(Duration::from_secs(attempt)).await;
                }
                Err(e) => anyhow::bail!("could not reach the campaign API at {api}: {e}"),
            }
        };
        totals.accepted += summary.accepted;
        totals.rejected += summary.rejected;
        totals.duplicates += summary.duplicates;
        for mut e in summary.errors {
            // The server numbers the part's lines from 1; map back to the file.
            e.line = part
                .get((e.line as usize).saturating_sub(1))
                .map_or(0, |(n, _)| *n);
            totals.errors.push(e);
        }
        done += part.len();
        progress(done);
    }
    Ok(totals)
}
