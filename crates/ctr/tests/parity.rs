//! Our predictor against LightGBM itself: a 60-tree binary model trained by LightGBM (the
//! library lightgbm3 wraps) with two categorical features (one with more than 32 values),
//! NaNs and exact zeros, and LightGBM's own predictions for 1,000 held-out rows that include
//! unseen, negative and missing categories (`tests/fixtures/make_parity.py` made them).

use endcap_ctr::Gbdt;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn every_row_agrees_with_lightgbm_within_1e_9() {
    let model = Gbdt::parse(&fixture("parity_model.txt")).unwrap();
    assert_eq!(model.trees(), 60);
    let rows = fixture("parity_rows.csv");
    let mut lines = rows.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header, model.features());
    let flat: Vec<f64> = lines
        .flat_map(|l| {
            l.split(',')
                .map(|c| {
                    if c.is_empty() {
                        f64::NAN
                    } else {
                        c.parse().unwrap()
                    }
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let expected: Vec<f64> = fixture("parity_expected.csv")
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    let width = header.len();
    let mut batch = Vec::new();
    model.predict_batch(&flat, width, &mut batch);
    assert_eq!(batch.len(), expected.len());
    let mut worst = 0.0f64;
    for (i, (b, e)) in batch.iter().zip(&expected).enumerate() {
        let single = model.predict(&flat[i * width..(i + 1) * width]);
        assert_eq!(*b, single, "row {i}: batch and single-row agree exactly");
        worst = worst.max((b - e).abs());
        assert!((b - e).abs() <= 1e-9, "row {i}: ours {b} LightGBM {e}");
    }
    // What the comparison actually found, for whoever reads the test output.
    eprintln!(
        "largest difference from LightGBM over {} rows: {worst:e}",
        batch.len()
    );
}
