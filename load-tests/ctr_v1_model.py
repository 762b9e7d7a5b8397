"""Writes a CTR model artifact over feature spec ctr-features-v1 (model.txt + model.json)
for benchmarks: LightGBM trains 200 trees of 31 leaves on synthetic rows with the spec's
columns (placement and device categorical), so the ad server scores with a model of the
size the CTR issue names.

    python3 load-tests/ctr_v1_model.py DIR
"""
import json
import os
import sys

import lightgbm as lgb
import numpy as np

d = sys.argv[1]
os.makedirs(d, exist_ok=True)
names = ["placement", "offsite", "cpc", "keyword_match", "segment_match", "sku_on_page",
         "device", "local_hour", "position", "search_placement"]
rng = np.random.default_rng(5)
n = 50000
X = np.column_stack([
    rng.integers(0, 1024, n), rng.integers(0, 2, n), rng.integers(0, 2, n),
    rng.integers(0, 2, n), rng.integers(0, 2, n), rng.integers(0, 2, n),
    rng.integers(0, 4, n), rng.integers(0, 24, n), rng.integers(1, 6, n), rng.integers(0, 2, n),
]).astype(float)
X[rng.random(n) < 0.2, 6] = np.nan
logit = -3 + 0.6 * X[:, 3] + 0.4 * X[:, 5] - 0.3 * X[:, 8] + 0.5 * X[:, 9] - 1.5 * X[:, 1]
y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
ds = lgb.Dataset(X, y, feature_name=names, categorical_feature=["placement", "device"])
params = {"objective": "binary", "num_leaves": 31, "min_data_in_leaf": 5, "verbose": -1,
          "num_threads": 1, "seed": 1, "deterministic": True}
booster = lgb.train(params, ds, num_boost_round=200)
booster.save_model(os.path.join(d, "model.txt"))
with open(os.path.join(d, "model.json"), "w") as f:
    json.dump({"version": "bench-v1-200x31", "feature_spec": "ctr-features-v1"}, f)
print("wrote", d, booster.num_trees(), "trees")
