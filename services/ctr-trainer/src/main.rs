//! `ctr-trainer`: Endcap's CTR model tool.
//!
//! - `train (--input DIR | --clickhouse URL) [--from] [--to] --out DIR`: trains a model on the
//!   decision log joined with impressions and clicks (served ads that rendered; ghosts are
//!   left out), calibrates and measures it, and writes the artifact the ad server watches
//!   for — unless the model misses the AUC or calibration floor (exit status 3, nothing
//!   written).
//! - `simulate --out DIR [--requests N] [--line-items N] [--days N] [--seed N]`: writes the
//!   shopper simulator's ad log (decisions, impressions, clicks) as a file event log, to try
//!   `train` on, benchmark it, or demo it.
//! - `score --model FILE --input ROWS.csv --out SCORES.csv`: scores rows with Endcap's
//!   predictor, to check it against LightGBM itself on models trained elsewhere. The CSV
//!   header names the columns; the model's features are found by name (other columns are
//!   ignored), an empty cell is missing. One probability per row, 17 significant digits.
//!
//! Input that is refused (a file that is not a LightGBM text model, a header without a model
//! feature, a cell that is not a number, a bad date, too little data): a message naming it
//! and exit status 2.

mod score;
mod train;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "ctr-trainer", about = "Endcap's CTR model tool")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model on the decision log and write its artifact.
    Train(train::TrainArgs),
    /// Write the shopper simulator's ad log as a file event log.
    Simulate {
        /// Event log directory to write (appended to).
        #[arg(long)]
        out: PathBuf,
        /// Page views with ads.
        #[arg(long, default_value_t = 50_000)]
        requests: usize,
        /// Line items competing.
        #[arg(long, default_value_t = 40)]
        line_items: usize,
        /// Days the requests spread over, ending now.
        #[arg(long, default_value_t = 14)]
        days: u32,
        /// Seed: the same seed writes the same log.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Score rows with Endcap's predictor.
    Score {
        /// A LightGBM text model.
        #[arg(long)]
        model: PathBuf,
        /// Rows: a CSV whose header names the model's features.
        #[arg(long)]
        input: PathBuf,
        /// Where the probabilities go, one per row.
        #[arg(long)]
        out: PathBuf,
    },
}

/// A refusal of the input (exit 2), as opposed to a failure of the machine (exit 1).
pub struct Refused(pub String);

/// How a command ended.
pub enum Outcome {
    /// Done; what to tell the user.
    Done(String),
    /// The input was refused.
    Refused(Refused),
    /// The model missed a floor: not published.
    BelowFloor(String),
}

fn simulate(
    out: &std::path::Path,
    requests: usize,
    line_items: usize,
    days: u32,
    seed: u64,
) -> anyhow::Result<Outcome> {
    use anyhow::Context;
    let day_ms = 86_400_000;
    let today = chrono::Utc::now().timestamp_millis() / day_ms * day_ms;
    let log = endcap_sim::simulate_ad_log(&endcap_sim::AdLogConfig {
        requests,
        line_items: line_items.max(1),
        shoppers: (requests / 10).max(100),
        start_ms: today - i64::from(days.max(1)) * day_ms,
        days: days.max(1),
        seed,
    });
    endcap_sim::write_event_log(out, &log.events)
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(Outcome::Done(format!(
        "wrote {} events ({} requests, {} line items) into {}",
        log.events.len(),
        requests,
        line_items.max(1),
        out.display()
    )))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match Cli::parse().command {
        Command::Score { model, input, out } => score::score(&model, &input, &out).map(|r| {
            r.map_or_else(Outcome::Refused, |n| {
                Outcome::Done(format!("scored {n} rows into {}", out.display()))
            })
        }),
        Command::Train(args) => train::run(&args),
        Command::Simulate {
            out,
            requests,
            line_items,
            days,
            seed,
        } => simulate(&out, requests, line_items, days, seed),
    };
    match result {
        Ok(Outcome::Done(msg)) => {
            eprintln!("{msg}");
            ExitCode::SUCCESS
        }
        Ok(Outcome::Refused(Refused(why))) => {
            eprintln!("ctr-trainer: {why}");
            ExitCode::from(2)
        }
        Ok(Outcome::BelowFloor(why)) => {
            eprintln!("ctr-trainer: not published: {why}");
            ExitCode::from(3)
        }
        Err(e) => {
            eprintln!("ctr-trainer: {e:#}");
            ExitCode::FAILURE
        }
    }
}
