//! `endcap-ingest`: bulk uploads for the retailer's data team.
//!
//!     endcap-ingest --api http://127.0.0.1:8080 --key $ADMIN_KEY receipts pos-2026-11-20.csv
//!
//! Exit status: 0 when every line was stored (or already was), 1 when some lines were
//! refused (the rest are stored; each refusal is printed with its file line), 2 when the
//! upload could not be done.

use clap::{Parser, Subcommand};
use endcap_ingest_cli::{records, upload, Kind};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "endcap-ingest",
    about = "Upload receipts, identity maps, catalogs and inventory to Endcap"
)]
struct Cli {
    /// Campaign API base URL (ENDCAP_API_URL).
    #[arg(long, env = "ENDCAP_API_URL", default_value = "http://127.0.0.1:8080")]
    api: String,
    /// Admin API key (ENDCAP_API_KEY).
    #[arg(long, env = "ENDCAP_API_KEY", hide_env_values = true)]
    key: String,
    /// Records per request.
    #[arg(long, default_value_t = 5_000)]
    part_size: usize,
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand)]
enum What {
    /// POS receipts: FILE.ndjson (one receipt per line) or FILE.csv (one row per receipt line).
    Receipts { file: PathBuf },
    /// Identity links: user_key, or an external id (source + external_id, e.g. UID2), to
    /// customer_key (or loyalty_id), NDJSON or CSV.
    Identity { file: PathBuf },
    /// Product catalog: sku, brand, category, NDJSON or CSV.
    Catalog { file: PathBuf },
    /// Per-store availability: sku, store_id, in_stock, NDJSON or CSV.
    Inventory { file: PathBuf },
}

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let (kind, file) = match &cli.what {
        What::Receipts { file } => (Kind::Receipts, file),
        What::Identity { file } => (Kind::Identity, file),
        What::Catalog { file } => (Kind::Catalog, file),
        What::Inventory { file } => (Kind::Inventory, file),
    };
    let data = match std::fs::read(file) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("endcap-ingest: cannot read {}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    let name = file.display().to_string();
    let (recs, mut refused) = records(kind, &name, &data);
    let bar = indicatif::ProgressBar::new(recs.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} records {elapsed_precise}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let result = upload(&cli.api, &cli.key, kind, &recs, cli.part_size, |n| {
        bar.set_position(n as u64)
    })
    .await;
    bar.finish_and_clear();
    let totals = match result {
        Ok(t) => t,
        Err(e) => {
            eprintln!("endcap-ingest: {e:#}");
            return ExitCode::from(2);
        }
    };
    refused.extend(totals.errors);
    refused.sort_by_key(|e| e.line);
    for e in &refused {
        match &e.field {
            Some(f) => eprintln!("{name}:{}: {f}: {}", e.line, e.reason),
            None => eprintln!("{name}:{}: {}", e.line, e.reason),
        }
    }
    let rejected = refused.len() as u64 + totals.rejected.saturating_sub(refused.len() as u64);
    println!(
        "{name}: accepted {}, rejected {}, duplicate {}",
        totals.accepted, rejected, totals.duplicates
    );
    if refused.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
