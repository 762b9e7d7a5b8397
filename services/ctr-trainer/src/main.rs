//! `ctr-trainer score --model FILE --input ROWS.csv --out SCORES.csv`: scores rows with
//! Endcap's predictor, to check it against LightGBM itself on models trained elsewhere. The
//! CSV header names the columns; the model's features are found by name (other columns are
//! ignored), an empty cell is missing. One probability per row, 17 significant digits.
//! A file that is not a LightGBM text model, a header without a model feature, or a cell
//! that is not a number: a message naming it and exit status 2.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::io::Write as _;
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
struct Refused(String);

fn score(
    model: &PathBuf,
    input: &PathBuf,
    out: &PathBuf,
) -> anyhow::Result<Result<usize, Refused>> {
    let text = std::fs::read_to_string(model)
        .with_context(|| format!("cannot read {}", model.display()))?;
    let m = match endcap_ctr::Gbdt::parse(&text) {
        Ok(m) => m,
        Err(e) => return Ok(Err(Refused(format!("{}: {e}", model.display())))),
    };
    let name = input.display().to_string();
    let mut reader = csv::ReaderBuilder::new()
        .from_path(input)
        .with_context(|| format!("cannot read {name}"))?;
    let header = reader.headers()?.clone();
    let mut columns = Vec::with_capacity(m.features().len());
    for f in m.features() {
        match header.iter().position(|h| h.trim() == f) {
            Some(i) => columns.push(i),
            None => {
                return Ok(Err(Refused(format!(
                    "{name}:1: the header has no column {f:?} (the model needs {})",
                    m.features().join(",")
                ))))
            }
        }
    }
    let width = columns.len();
    let mut rows: Vec<f64> = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => return Ok(Err(Refused(format!("{name}: {e}")))),
        };
        let line = record.position().map_or(0, |p| p.line());
        for (&c, f) in columns.iter().zip(m.features()) {
            let cell = record.get(c).unwrap_or("").trim();
            let v = if cell.is_empty() {
                f64::NAN
            } else {
                match cell.parse::<f64>() {
                    Ok(v) => v,
                    Err(_) => {
                        return Ok(Err(Refused(format!(
                            "{name}:{line}: {f}: {cell:?} is not a number"
                        ))))
                    }
                }
            };
            rows.push(v);
        }
    }
    let mut probs = Vec::new();
    m.predict_batch(&rows, width, &mut probs);
    let mut w = std::io::BufWriter::new(
        std::fs::File::create(out).with_context(|| format!("cannot write {}", out.display()))?,
    );
    for p in &probs {
        writeln!(w, "{p:.16e}")?;
    }
    w.flush()?;
    Ok(Ok(probs.len()))
}

fn main() -> ExitCode {
    let Command::Score { model, input, out } = Cli::parse().command;
    match score(&model, &input, &out) {
        Ok(Ok(n)) => {
            eprintln!("scored {n} rows into {}", out.display());
            ExitCode::SUCCESS
        }
        Ok(Err(Refused(why))) => {
            eprintln!("ctr-trainer: {why}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("ctr-trainer: {e:#}");
            ExitCode::FAILURE
        }
    }
}
