#!/usr/bin/env python3
"""Reference values for crates/engine/src/stats (summary statistics and sensitivity).

Writes crates/engine/tests/data/stats_reference.json, read by
crates/engine/tests/stats_reference.rs. Both sides generate the same datasets bit for bit
with a SplitMix64 generator (Steele, Lea & Flood, 2014) and only correctly rounded IEEE
operations (+ - * / floor), so no libm function can make them differ:

    uniform() = (splitmix64() >> 11) * 2**-53          in [0, 1)
    normal()  = sum of 12 uniform() (left to right) - 6  (Irwin-Hall, mean 0, variance 1)

References: np.mean, np.std(ddof=1), scipy.stats.skew / kurtosis (bias=True),
np.percentile (linear), np.histogram on Freedman-Diaconis edges built by the documented
formula, scipy.stats.spearmanr, standardised OLS by np.linalg.lstsq, tornado means over a
stable argsort.

Floats are written as strings (Python repr, shortest round-trip) because serde_json's
default float parser is not correctly rounded; the Rust test parses them with
`str::parse::<f64>`, which is.

Usage: python3 scripts/reference/stats_reference.py
"""

import json
import math
import pathlib

import numpy as np
import scipy
import scipy.stats

MASK = (1 << 64) - 1
OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/engine/tests/data/stats_reference.json"


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def uniform(self):
        return (self.next() >> 11) * 2.0**-53

    def normal(self):
        acc = 0.0
        for _ in range(12):
            acc += self.uniform()
        return acc - 6.0


# ---- datasets (mirrored in crates/engine/tests/stats_common/mod.rs) ----

def normal_nan():
    g = SplitMix64(1)
    x = [10.0 + 3.0 * g.normal() for _ in range(50_000)]
    for i in range(len(x)):
        if i % 997 == 13:
            x[i] = math.nan
    x[4242] = math.inf
    x[777] = -math.inf
    return np.array(x)


def skewed_ties():
    g = SplitMix64(2)
    return np.array([math.floor(4.0 / (g.uniform() + 0.05)) / 4.0 for _ in range(20_000)])


def discrete():
    g = SplitMix64(3)
    return np.array([math.floor(g.uniform() * 5.0) for _ in range(10_000)], dtype=float)


def spike():
    g = SplitMix64(4)
    x = []
    for _ in range(12_345):
        u, v = g.uniform(), g.uniform()
        x.append(0.0 if u < 0.9 else v * 10.0)
    return np.array(x)


def sensitivity_data():
    g = SplitMix64(5)
    n = 30_000
    cols = {k: [] for k in ("x0", "x1", "x2", "x3", "y0", "y1", "y2")}
    for _ in range(n):
        x0 = g.normal()
        x1 = g.uniform()
        x2 = float(math.floor(g.uniform() * 5.0))
        x3 = g.normal()
        e0 = g.normal()
        e1 = g.normal()
        cols["x0"].append(x0)
        cols["x1"].append(x1)
        cols["x2"].append(x2)
        cols["x3"].append(x3)
        cols["y0"].append(3.0 * x0 + 2.0 * x1 + x2 + 0.5 * e0)
        cols["y1"].append(x0 * x3 + x1 / (x2 + 1.0) + 0.1 * e1)
        cols["y2"].append(x2 * 2.0)
    c = {k: np.array(v) for k, v in cols.items()}
    for i in range(n):
        if i % 1009 == 7:
            c["y1"][i] = math.nan
    c["x3"][12345] = math.nan
    c["x1"][20000] = math.inf
    return [c["x0"], c["x1"], c["x2"], c["x3"]], [c["y0"], c["y1"], c["y2"]]


# ---- summary ----

def histogram(x, max_bins):
    n = len(x)
    mn, mx = float(x.min()), float(x.max())
    if mn == mx:
        return [mn, mx], [n]
    iqr = float(np.percentile(x, 75) - np.percentile(x, 25))
    span = mx - mn
    if iqr > 0:
        bins_f = math.ceil(span / (2.0 * iqr / float(n) ** (1.0 / 3.0)))
    else:
        bins_f = math.ceil(math.log2(n)) + 1
    bins = max(1, min(max_bins, bins_f))
    step = span / bins
    edges = [i * step + mn for i in range(bins)] + [mx]
    counts, _ = np.histogram(x, bins=np.array(edges))
    return edges, [int(c) for c in counts]


def convergence(samples, every):
    fin = np.isfinite(samples)
    out = []
    n = len(samples)
    ends = list(range(every, n, every)) + [n]
    for end in ends:
        v = samples[:end][fin[:end]]
        mean = float(np.mean(v)) if len(v) else math.nan
        half = 1.96 * float(np.std(v, ddof=1)) / math.sqrt(len(v)) if len(v) > 1 else math.nan
        out.append({"iterations": end, "mean": mean, "ci_low": mean - half, "ci_high": mean + half})
    return out


def summary(samples, percentiles, max_bins, ecdf_points, every):
    x = samples[np.isfinite(samples)]
    n = len(x)
    edges, counts = histogram(x, max_bins)
    probs = [k / (ecdf_points - 1) for k in range(ecdf_points)]
    return {
        "options": {"percentiles": percentiles, "max_histogram_bins": max_bins,
                    "ecdf_points": ecdf_points, "convergence_every": every},
        "count": n,
        "errors": int(len(samples) - n),
        "mean": float(np.mean(x)),
        "std": float(np.std(x, ddof=1)),
        "min": float(x.min()),
        "max": float(x.max()),
        "skewness": float(scipy.stats.skew(x, bias=True)),
        "kurtosis": float(scipy.stats.kurtosis(x, fisher=True, bias=True)),
        "std_error": float(np.std(x, ddof=1) / math.sqrt(n)),
        "percentiles": [float(np.percentile(x, p)) for p in percentiles],
        "histogram": {"edges": edges, "counts": counts},
        "ecdf": [[float(np.quantile(x, q)), q] for q in probs],
        "convergence": convergence(samples, every),
    }


# ---- sensitivity ----

def sensitivity(inputs, outputs):
    X = np.column_stack(inputs)
    res = []
    for y in outputs:
        mask = np.isfinite(y) & np.all(np.isfinite(X), axis=1)
        xm, ym = X[mask], y[mask]
        n = len(ym)
        rho = [float(scipy.stats.spearmanr(xm[:, j], ym).statistic) for j in range(X.shape[1])]
        z = (xm - xm.mean(axis=0)) / xm.std(axis=0, ddof=1)
        zy = (ym - ym.mean()) / ym.std(ddof=1)
        beta = np.linalg.lstsq(z, zy, rcond=None)[0]
        total = sum(r * r for r in rho)
        m = max(1, n // 10)
        rows = []
        for j in range(X.shape[1]):
            order = np.argsort(xm[:, j], kind="stable")
            rows.append({
                "spearman": rho[j],
                "regression": float(beta[j]),
                "contribution_to_variance": rho[j] ** 2 / total * math.copysign(1.0, rho[j]),
                "mean_at_low": float(np.mean(ym[order[:m]])),
                "mean_at_high": float(np.mean(ym[order[n - m:]])),
            })
        res.append({"rows_used": int(n), "inputs": rows})
    return res


def exact(obj):
    """Floats (including numpy floats) as repr strings, recursively."""
    if isinstance(obj, dict):
        return {k: exact(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [exact(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return repr(float(obj))
    return obj


def main():
    a = normal_nan()
    default_p = [1.0, 5.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0]
    summaries = {
        "normal_nan": summary(a, default_p + [0.0, 100.0, 33.3], 200, 101, 1000),
        "skewed_ties": summary(skewed_ties(), default_p, 50, 11, 3000),
        "discrete": summary(discrete(), default_p, 200, 5, 10_000),
        "spike": summary(spike(), [50.0, 95.0, 99.9], 200, 21, 5000),
    }
    inputs, outputs = sensitivity_data()
    doc = {
        "generated_by": "scripts/reference/stats_reference.py",
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        # Generation check: the first values of normal_nan and the sum of its finite values.
        "generator_check": {"first": [float(v) for v in a[:4]],
                            "bits_xor": int(np.bitwise_xor.reduce(a[np.isfinite(a)].view(np.uint64)))},
        "summaries": summaries,
        "sensitivity": sensitivity(inputs, outputs),
    }
    OUT.write_text(json.dumps(exact(doc), indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
