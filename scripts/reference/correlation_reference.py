#!/usr/bin/env python3
"""Reference values for the correlation module's tests (helper D).

Computes, independently of the Rust code, Higham's nearest correlation matrix
(N. J. Higham, "Computing the nearest correlation matrix - a problem from finance",
IMA J. Numer. Anal. 22 (2002) 329-343, Algorithm 3.3 with W = I: alternating projections
with Dykstra's correction) using numpy's LAPACK eigh, iterated to a much tighter tolerance
than the engine uses, for:

  * Higham's classic example A = [[1,1,0],[1,1,1],[0,1,1]] (paper: off-diagonals 0.7607
    and 0.1573);
  * an inconsistent 4x4 Spearman target, taken through the engine's pipeline
    (R = 2 sin(pi rs / 6), nearest correlation matrix, back to rs = 6/pi asin(R/2)).

Writes crates/engine/tests/data/correlation_higham_reference.json. Run from the repository
root:  python3 scripts/reference/correlation_reference.py
"""
import json
import math
import os

import numpy as np


def nearest_correlation(a, tol=1e-15, max_iter=100_000):
    a = np.array(a, dtype=float)
    y = a.copy()
    ds = np.zeros_like(a)
    for it in range(1, max_iter + 1):
        r = y - ds
        w, v = np.linalg.eigh(r)
        x = (v * np.maximum(w, 0.0)) @ v.T
        x = (x + x.T) / 2
        ds = x - r
        y_new = x.copy()
        np.fill_diagonal(y_new, 1.0)
        change = np.linalg.norm(y_new - y, "fro") / np.linalg.norm(y_new, "fro")
        y = y_new
        if change <= tol:
            break
    return y, it


def main():
    out = {"algorithm": "Higham 2002 Alg. 3.3, W = I, numpy eigh, tol 1e-15", "cases": []}

    classic = [[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 1.0]]
    x, it = nearest_correlation(classic)
    out["cases"].append({
        "name": "higham2002_classic",
        "input_pearson": classic,
        "nearest_pearson": x.tolist(),
        "min_eigenvalue": float(np.linalg.eigvalsh(x).min()),
        "iterations": it,
    })

    rank = [
        [1.0, 0.9, 0.8, -0.6],
        [0.9, 1.0, -0.5, 0.7],
        [0.8, -0.5, 1.0, 0.4],
        [-0.6, 0.7, 0.4, 1.0],
    ]
    rs = np.array(rank)
    pearson = 2.0 * np.sin(math.pi * rs / 6.0)
    np.fill_diagonal(pearson, 1.0)
    assert np.linalg.eigvalsh(pearson).min() < 0, "example must be inconsistent"
    x, it = nearest_correlation(pearson)
    adjusted = 6.0 / math.pi * np.arcsin(np.clip(x / 2.0, -0.5, 0.5))
    np.fill_diagonal(adjusted, 1.0)
    out["cases"].append({
        "name": "inconsistent_rank_4x4",
        "input_rank": rank,
        "input_pearson": pearson.tolist(),
        "input_min_eigenvalue": float(np.linalg.eigvalsh(pearson).min()),
        "nearest_pearson": x.tolist(),
        "adjusted_rank": adjusted.tolist(),
        "min_eigenvalue": float(np.linalg.eigvalsh(x).min()),
        "iterations": it,
    })

    path = os.path.join("crates", "engine", "tests", "data", "correlation_higham_reference.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    for case in out["cases"]:
        print(case["name"], "iterations", case["iterations"])
        print(np.array(case["nearest_pearson"]))


if __name__ == "__main__":
    main()
