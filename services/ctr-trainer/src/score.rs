//! `ctr-trainer score`: rows of a CSV scored with Endcap's predictor.

use crate::Refused;
use anyhow::Context;
use std::io::Write as _;
use std::path::PathBuf;

/// Scores `input` with the model in `model` into `out`; the rows scored.
pub fn score(
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
