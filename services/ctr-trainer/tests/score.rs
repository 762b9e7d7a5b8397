//! `ctr-trainer score` as a user runs it: probabilities per row, and exit status 2 with a
//! message naming the problem for a file that is not a model, a missing feature column or a
//! cell that is not a number.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn score(model: &Path, rows: &str) -> (Output, String) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("rows.csv");
    std::fs::write(&input, rows).unwrap();
    let out = dir.path().join("scores.csv");
    let o = Command::new(env!("CARGO_BIN_EXE_ctr-trainer"))
        .args(["score", "--model"])
        .arg(model)
        .arg("--input")
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let scores = std::fs::read_to_string(&out).unwrap_or_default();
    (o, scores)
}

fn sig(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[test]
fn rows_are_scored_by_feature_name_with_empty_cells_missing() {
    // Columns in another order plus one the model does not use.
    let (o, scores) = score(
        &fixture("tiny_model.txt"),
        "cat,extra,price\n1,x,1\n33,y,\n2,z,3\n",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got: Vec<f64> = scores.lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(got, vec![sig(1.5), sig(1.5), sig(-1.25)]);
    assert!(
        scores.lines().all(|l| l.contains('e')),
        "17 significant digits: {scores}"
    );
}

#[test]
fn refusals_exit_2_and_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_model = dir.path().join("m.txt");
    std::fs::write(&not_a_model, "{\"hello\": 1}").unwrap();
    let cases = [
        (
            not_a_model.clone(),
            "price,cat\n1,1\n",
            "not a LightGBM text model",
        ),
        (fixture("tiny_model.txt"), "price\n1\n", "no column \"cat\""),
        (
            fixture("tiny_model.txt"),
            "price,cat\n1,1\nabc,2\n",
            ":3: price: \"abc\" is not a number",
        ),
    ];
    for (model, rows, says) in cases {
        let (o, _) = score(&model, rows);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(says), "{err}");
    }
}
