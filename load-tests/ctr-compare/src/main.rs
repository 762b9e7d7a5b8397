//! `cargo run --release -- DIR` with DIR from `python3 ../ctr_bench.py DIR`: times our
//! predictor and lightgbm3 (one thread) on the same model and rows, in the same run, and
//! checks they agree on every row. Single rows: ours vs `predict_single_row_fast`; batches
//! of 100: ours vs `predict` on a 100-row matrix.

use std::time::Instant;

fn rows(path: &str) -> (Vec<f64>, usize) {
    let text = std::fs::read_to_string(path).expect("rows");
    let mut lines = text.lines();
    let width = lines.next().expect("header").split(',').count();
    let flat = lines
        .flat_map(|l| {
            l.split(',')
                .map(|c| if c.is_empty() { f64::NAN } else { c.parse().expect("number") })
                .collect::<Vec<_>>()
        })
        .collect();
    (flat, width)
}

/// Best of `rounds` timings of `f` repeated `reps` times, seconds per call.
fn time(rounds: usize, reps: usize, mut f: impl FnMut()) -> f64 {
    (0..rounds)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..reps {
                f();
            }
            t.elapsed().as_secs_f64() / reps as f64
        })
        .fold(f64::MAX, f64::min)
}

fn main() {
    let dir = std::env::args().nth(1).expect("DIR");
    let text = std::fs::read_to_string(format!("{dir}/bench_model.txt")).expect("model");
    let ours = endcap_ctr::Gbdt::parse(&text).expect("our parse");
    let mut lgb = lightgbm3::Booster::from_string(&text).expect("lightgbm3 parse");
    let (flat, width) = rows(&format!("{dir}/bench_rows.csv"));
    let n = flat.len() / width;
    let w = width as i32;

    // Agreement on every row.
    let theirs = lgb
        .predict_with_params(&flat, w, true, "num_threads=1")
        .expect("predict");
    let mut mine = Vec::new();
    ours.predict_batch(&flat, width, &mut mine);
    let worst = mine
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    println!("{n} rows, {} trees: largest difference {worst:e}", ours.trees());

    let params = serde_json::json!({"num_threads": 1});
    lgb.single_row_fast_init::<f64>(Some(&params)).expect("fast init");
    let one = &flat[..width];
    let batch = &flat[..100 * width];
    for round in 1..=3 {
        let ours_single = time(5, 20_000, || {
            std::hint::black_box(ours.predict(std::hint::black_box(one)));
        });
        let lgb_single = time(5, 20_000, || {
            std::hint::black_box(lgb.predict_single_row_fast(std::hint::black_box(one)).ok());
        });
        let mut out = Vec::with_capacity(100);
        let ours_batch = time(5, 500, || {
            ours.predict_batch(std::hint::black_box(batch), width, &mut out);
            std::hint::black_box(&out);
        });
        let lgb_batch = time(5, 500, || {
            std::hint::black_box(lgb.predict_with_params(batch, w, true, "num_threads=1").ok());
        });
        println!(
            "round {round}: single row ours {:.2} us, lightgbm3 fast {:.2} us ({:.2}x); \
             batch 100 ours {:.0} rows/s, lightgbm3 {:.0} rows/s ({:.2}x)",
            ours_single * 1e6,
            lgb_single * 1e6,
            lgb_single / ours_single,
            100.0 / ours_batch,
            100.0 / lgb_batch,
            lgb_batch / ours_batch
        );
    }
}
