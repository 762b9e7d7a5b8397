"""Trains the CTR benchmark model with LightGBM (200 trees, 31 leaves, 30 features, two of
them categorical, NaNs) and times LightGBM's own prediction on the benchmark rows in one
thread: single rows (`predict` on a 1-row matrix, the closest Python has to
predict_single_row_fast) and 100-row batches. Writes bench_model.txt and bench_rows.csv
into DIR for `cargo bench -p endcap-ctr`.

    python3 load-tests/ctr_bench.py DIR
"""
import sys
import time

import lightgbm as lgb
import numpy as np

d = sys.argv[1]
rng = np.random.default_rng(3)
n, k = 20000, 30
X = rng.normal(size=(n, k))
X[:, 0] = rng.integers(0, 12, n)
X[:, 1] = rng.integers(0, 60, n)
X[rng.random((n, k)) < 0.05] = np.nan
logit = -2 + 0.5 * (X[:, 0] % 3 == 0) + 0.3 * np.nan_to_num(X[:, 2]) - 0.4 * np.nan_to_num(X[:, 3])
y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
names = [f"f{i}" for i in range(k)]
ds = lgb.Dataset(X, y, feature_name=names, categorical_feature=["f0", "f1"])
params = {"objective": "binary", "num_leaves": 31, "min_data_in_leaf": 5, "verbose": -1,
          "num_threads": 1, "seed": 1, "deterministic": True}
booster = lgb.train(params, ds, num_boost_round=200)
booster.save_model(f"{d}/bench_model.txt")
rows = X[:1000]
with open(f"{d}/bench_rows.csv", "w") as f:
    f.write(",".join(names) + "\n")
    for r in rows:
        f.write(",".join("" if np.isnan(v) else repr(float(v)) for v in r) + "\n")
batch = rows[:100]
kw = {"num_threads": 1}
for _ in range(20):
    booster.predict(batch, **kw)
reps = 300
t = time.perf_counter()
for _ in range(reps):
    booster.predict(batch, **kw)
batch_s = (time.perf_counter() - t) / reps
one = rows[:1]
t = time.perf_counter()
for _ in range(reps * 10):
    booster.predict(one, **kw)
single_s = (time.perf_counter() - t) / (reps * 10)
print(f"LightGBM {lgb.__version__} (Python), 1 thread: batch_100 {batch_s * 1e6:.1f} us "
      f"({100 / batch_s:,.0f} rows/s); single_row {single_s * 1e6:.1f} us (incl. Python call overhead)")
