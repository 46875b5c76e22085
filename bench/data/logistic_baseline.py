"""Logistic-regression baseline on the synthetic click-through data.

Shows how far a model without feature crosses stays below the Bayes-optimal
AUC that `mlenv data synth` reports. Needs Debian's python3-sklearn and
python3-pandas; run with /usr/bin/python3:

    mlenv data synth --rows 300000 --out tr.csv --seed 11
    mlenv data synth --rows 100000 --out te.csv --seed 12
    /usr/bin/python3 bench/data/logistic_baseline.py tr.csv te.csv
"""
import json
import sys

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix, hstack
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import OneHotEncoder, StandardScaler

DENSE = [f"I{i}" for i in range(1, 14)]
CATS = [f"C{j}" for j in range(1, 27)]


def main(train_path, test_path):
    types = {c: str for c in CATS}
    train = pd.read_csv(train_path, dtype=types)
    test = pd.read_csv(test_path, dtype=types)
    scaler = StandardScaler().fit(np.log1p(train[DENSE]))
    onehot = OneHotEncoder(handle_unknown="ignore", min_frequency=3).fit(train[CATS])

    def features(d):
        dense = csr_matrix(scaler.transform(np.log1p(d[DENSE])))
        return hstack([dense, onehot.transform(d[CATS])]).tocsr()

    model = LogisticRegression(C=0.5, max_iter=1000).fit(features(train), train.label)
    auc = roc_auc_score(test.label, model.predict_proba(features(test))[:, 1])
    with open(test_path + ".json") as f:
        bayes = json.load(f)["bayes_auc"]
    print(f"logistic test AUC {auc:.4f}, Bayes-optimal {bayes:.4f}, gap {bayes - auc:.4f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
