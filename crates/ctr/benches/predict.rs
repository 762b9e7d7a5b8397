//! Our predictor's single-row latency and 100-row batch throughput on a LightGBM model.
//! `load-tests/ctr_bench.sh` trains the benchmark model (200 trees, 31 leaves, 30 features)
//! with LightGBM, times LightGBM's own prediction on the same rows in the same run, and
//! runs this with `ENDCAP_CTR_BENCH_DIR` pointing at the files; without it the parity
//! fixture model is used.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use endcap_ctr::Gbdt;

fn load() -> (Gbdt, Vec<f64>, usize) {
    let dir = std::env::var("ENDCAP_CTR_BENCH_DIR")
        .unwrap_or_else(|_| format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR")));
    let (model, rows) = if std::path::Path::new(&format!("{dir}/bench_model.txt")).exists() {
        ("bench_model.txt", "bench_rows.csv")
    } else {
        ("parity_model.txt", "parity_rows.csv")
    };
    let m = Gbdt::parse(&std::fs::read_to_string(format!("{dir}/{model}")).unwrap()).unwrap();
    let text = std::fs::read_to_string(format!("{dir}/{rows}")).unwrap();
    let mut lines = text.lines();
    let width = lines.next().unwrap().split(',').count();
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
    (m, flat, width)
}

fn bench(c: &mut Criterion) {
    let (m, rows, width) = load();
    let batch = &rows[..100 * width];
    let mut g = c.benchmark_group(format!("gbdt_{}_trees", m.trees()));
    g.throughput(Throughput::Elements(1));
    g.bench_function("single_row", |b| {
        b.iter(|| black_box(m.predict(black_box(&batch[..width]))))
    });
    g.throughput(Throughput::Elements(100));
    let mut out = Vec::with_capacity(100);
    g.bench_function("batch_100", |b| {
        b.iter(|| {
            m.predict_batch(black_box(batch), width, &mut out);
            black_box(&out);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
