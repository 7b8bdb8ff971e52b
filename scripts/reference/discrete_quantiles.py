#!/usr/bin/env python3
"""Reference quantiles for the discrete, table, trigen and truncated distributions.

Writes (relative to the repository root):
  crates/engine/tests/data/discrete_quantiles.csv
      family,params(;-separated),p,quantile,jump_gap
      Discrete @RISK families against scipy. `quantile` is the smallest k with CDF(k) >= p:
      scipy's ppf, then checked (and if needed corrected) with scipy's cdf for p <= 1/2 and
      with its survival function sf against 1 - p above (scipy's ppf compares with the CDF
      even near 1, where the CDF is rounded). `jump_gap` is the relative distance from p to
      the nearest of CDF(k - 1), CDF(k) (1 - p to SF for p > 1/2): when it is below 1e-12,
      rounding may legitimately give k - 1 or k + 1 instead, and the Rust test allows that.
  crates/engine/tests/data/discrete_tables.json
      RiskDiscrete / RiskCumul / RiskHistogrm / RiskGeneral / RiskTrigen quantiles computed
      exactly (fractions) or with mpmath at 50 digits, independently of the Rust code.
  crates/engine/tests/data/discrete_truncated.json
      Truncated and shifted laws: scipy truncnorm, mpmath for the truncated gamma and the
      shifted lognormal, exact sums for discrete bases; with means and variances.

Requires Python 3.11, numpy, scipy (1.17 used) and mpmath (1.3 used).
Run from the repository root: python3 scripts/reference/discrete_quantiles.py
"""

import csv
import json
import math
from fractions import Fraction
from pathlib import Path

import mpmath as mp
import numpy as np
from scipy import stats

mp.mp.dps = 50
OUT = Path("crates/engine/tests/data")


def p_grid():
    """1e-12 .. 1 - 1e-12: log-spaced in both tails (half decades), plus central points."""
    tails = [10.0 ** (-e / 2) for e in range(2, 25)]  # 1e-1 .. 1e-12
    ps = set(tails) | {1.0 - t for t in tails}
    ps |= {j / 50 for j in range(1, 50)}
    ps |= {0.123456789, 0.987654321}
    return sorted(ps)


DISCRETE = [
    ("bernoulli", [0.3], lambda a: stats.bernoulli(a[0])),
    ("bernoulli", [0.999], lambda a: stats.bernoulli(a[0])),
    ("binomial", [10, 0.3], lambda a: stats.binom(a[0], a[1])),
    ("binomial", [1000, 0.3], lambda a: stats.binom(a[0], a[1])),
    ("binomial", [50, 0.999], lambda a: stats.binom(a[0], a[1])),
    ("binomial", [1000000, 0.5], lambda a: stats.binom(a[0], a[1])),
    ("poisson", [0.5], lambda a: stats.poisson(a[0])),
    ("poisson", [7.25], lambda a: stats.poisson(a[0])),
    ("poisson", [2500], lambda a: stats.poisson(a[0])),
    ("poisson", [1000000], lambda a: stats.poisson(a[0])),
    ("geometric", [0.3], lambda a: stats.geom(a[0], loc=-1)),
    ("geometric", [1e-4], lambda a: stats.geom(a[0], loc=-1)),
    ("geometric", [0.95], lambda a: stats.geom(a[0], loc=-1)),
    ("neg_bin", [1, 0.5], lambda a: stats.nbinom(a[0], a[1])),
    ("neg_bin", [5, 0.02], lambda a: stats.nbinom(a[0], a[1])),
    ("neg_bin", [3, 0.6], lambda a: stats.nbinom(a[0], a[1])),
    ("neg_bin", [1000, 0.01], lambda a: stats.nbinom(a[0], a[1])),
    ("int_uniform", [-3, 7], lambda a: stats.randint(a[0], a[1] + 1)),
    ("int_uniform", [0, 1], lambda a: stats.randint(a[0], a[1] + 1)),
    ("int_uniform", [1, 1000000], lambda a: stats.randint(a[0], a[1] + 1)),
]


def holds(law, k, p):
    if p <= 0.5:
        return law.cdf(k) >= p
    return law.sf(k) <= 1.0 - p


def smallest_k(law, p):
    k = float(law.ppf(p))
    lo = float(law.support()[0])
    while k > lo and holds(law, k - 1, p):
        k -= 1
    while not holds(law, k, p):
        k += 1
    return k


def jump_gap(law, k, p):
    if p <= 0.5:
        return min(abs(law.cdf(j) - p) / p for j in (k - 1, k))
    q = 1.0 - p
    return min(abs(law.sf(j) - q) / q for j in (k - 1, k))


def write_discrete():
    rows = []
    for family, params, make in DISCRETE:
        law = make(params)
        ps = p_grid()
        if family in ("binomial", "poisson", "neg_bin"):
            ps = [1e-100, 1e-30] + ps  # below the lattice tables' range
        for p in ps:
            k = smallest_k(law, p)
            rows.append([family, ";".join(repr(x) for x in params), repr(p), repr(k),
                         f"{jump_gap(law, k, p):.3e}"])
    with open(OUT / "discrete_quantiles.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["family", "params", "p", "quantile", "jump_gap"])
        w.writerows(rows)
    return len(rows)


TABLE_PS = [1e-12, 1e-6, 1e-3, 0.01, 0.1, 0.2, 0.25, 0.3, 0.5, 0.55, 0.7, 0.75, 0.9, 0.99,
            0.999, 1 - 1e-6, 1 - 1e-12]


def discrete_table(values, weights):
    merged = {}
    for v, w in zip(values, weights):
        if w > 0:
            merged[Fraction(v)] = merged.get(Fraction(v), 0) + Fraction(w)
    total = sum(merged.values())
    cum, out = Fraction(0), []
    for v in sorted(merged):
        cum += merged[v] / total
        out.append((v, cum))
    rows = []
    for p in TABLE_PS:
        fp = Fraction(p)
        k = next(v for v, c in out if c >= fp)
        gap = min(abs(float((c - fp) / fp)) for _, c in out)
        rows.append([p, float(k), gap])
    return rows


def piecewise_linear_cdf(knots, cdf):
    """Exact quantiles of a CDF linear between (knots[i], cdf[i]) (all Fractions)."""
    rows = []
    for p in TABLE_PS:
        fp = Fraction(p)
        j = next(i for i in range(1, len(cdf)) if cdf[i] >= fp)
        a, b = knots[j - 1], knots[j]
        x = a + (fp - cdf[j - 1]) / (cdf[j] - cdf[j - 1]) * (b - a)
        rows.append([p, float(x)])
    return rows


def cumul(lo, hi, xs, ps):
    knots = [Fraction(v) for v in [lo, *xs, hi]]
    cdf = [Fraction(v) for v in [0, *ps, 1]]
    return piecewise_linear_cdf(knots, cdf)


def histogram(lo, hi, probs):
    n = len(probs)
    knots = [Fraction(lo) + (Fraction(hi) - Fraction(lo)) * i / n for i in range(n + 1)]
    total = sum(Fraction(p) for p in probs)
    cdf = [Fraction(0)]
    for p in probs:
        cdf.append(cdf[-1] + Fraction(p) / total)
    return piecewise_linear_cdf(knots, cdf)


def general(lo, hi, xs, dens):
    knots = [mp.mpf(v) for v in [lo, *xs, hi]]
    f = [mp.mpf(v) for v in [0, *dens, 0]]
    areas = [(f[i] + f[i + 1]) / 2 * (knots[i + 1] - knots[i]) for i in range(len(knots) - 1)]
    total = sum(areas)
    cdf = [mp.mpf(0)]
    for a in areas:
        cdf.append(cdf[-1] + a / total)
    rows = []
    for p in TABLE_PS:
        fp = mp.mpf(p)
        j = next(i for i in range(1, len(cdf)) if cdf[i] >= fp)
        a, b = knots[j - 1], knots[j]
        fa, fb = f[j - 1] / total, f[j] / total
        r = fp - cdf[j - 1]
        slope = (fb - fa) / (b - a)
        if slope == 0:
            t = r / fa
        else:  # slope t^2 / 2 + fa t - r = 0, root in [0, b - a]
            t = (-fa + mp.sqrt(fa * fa + 2 * slope * r)) / slope
        rows.append([p, float(a + t)])
    return rows


def trigen(bottom, mode, top, bp, tp):
    """Solve F(bottom) = bp, F(top) = tp for the triangular ends with mpmath."""
    c, bottom, top, bp, tp = (mp.mpf(v) for v in (mode, bottom, top, bp, tp))

    def cdf(a, b, x):
        if x <= c:
            return (x - a) ** 2 / ((b - a) * (c - a))
        return 1 - (b - x) ** 2 / ((b - a) * (b - c))

    # Newton on the 2x2 system F(bottom) = bp, F(top) = tp, from widened guesses; keep
    # the root with a < bottom and b > top (the formulas also have spurious roots).
    width = top - bottom
    for spread in (0.01, 0.05, 0.25, 1, 4):
        guess = (bottom - width * spread, top + width * spread)
        try:
            a, b = mp.findroot([lambda a, b: cdf(a, b, bottom) - bp,
                                lambda a, b: cdf(a, b, top) - tp], guess, tol=mp.mpf(10) ** -80)
        except (ValueError, ZeroDivisionError):
            continue
        if a < bottom and b > top:
            break
    else:
        raise RuntimeError("no trigen root")
    assert abs(cdf(a, b, bottom) - bp) < mp.mpf(10) ** -30
    assert abs(cdf(a, b, top) - tp) < mp.mpf(10) ** -30
    rows = []
    for p in TABLE_PS:
        fp = mp.mpf(p)
        fc = (c - a) / (b - a)
        x = a + mp.sqrt(fp * (b - a) * (c - a)) if fp <= fc else b - mp.sqrt((1 - fp) * (b - a) * (b - c))
        rows.append([p, float(x)])
    return float(a), float(b), rows


def write_tables():
    cases = []
    for values, weights in [([3, 1, 3, 2, 5], [1, 2, 1, 0, 4]),
                            ([0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4]),
                            ([-1e6, 0, 1e-3, 7.5], [1e-9, 1, 1, 3])]:
        cases.append({"family": "discrete", "values": values, "weights": weights,
                      "quantiles": discrete_table(values, weights)})
    for lo, hi, xs, ps in [(0, 10, [2, 5], [0.2, 0.2]), (-1, 1, [-0.5, 0, 0.9], [0.1, 0.5, 0.99]),
                           (100, 200, [], [])]:
        cases.append({"family": "cumul", "min": lo, "max": hi, "xs": xs, "ps": ps,
                      "quantiles": cumul(lo, hi, xs, ps)})
    for lo, hi, probs in [(0, 3, [1, 0, 3]), (-5, 5, [1, 2, 3, 4, 5, 4, 3, 2, 1, 0.5])]:
        cases.append({"family": "histogram", "min": lo, "max": hi, "probabilities": probs,
                      "quantiles": histogram(lo, hi, probs)})
    for lo, hi, xs, dens in [(0, 2, [1], [5]), (0, 4, [1, 3], [2, 2]),
                             (-5, 5, [-4, 0, 0.1, 3], [1, 0, 7, 0.5]), (0, 1, [0.5], [1e-9])]:
        cases.append({"family": "general", "min": lo, "max": hi, "xs": xs, "densities": dens,
                      "quantiles": general(lo, hi, xs, dens)})
    for args in [(10, 20, 40, 0.1, 0.9), (0, 1, 2, 0.05, 0.95), (-7, -2, 100, 0.01, 0.99),
                 (0, 0.5, 1, 0.4, 0.6)]:
        a, b, rows = trigen(*args)
        cases.append({"family": "trigen", "params": list(args), "min": a, "max": b,
                      "quantiles": rows})
    (OUT / "discrete_tables.json").write_text(json.dumps(cases, indent=1) + "\n")
    return len(cases)


def truncated_gamma(shape, scale, lo, hi):
    F = lambda x: mp.gammainc(shape, 0, x / scale, regularized=True)
    flo, fhi = F(lo), F(hi)
    rows = []
    for p in TABLE_PS:
        target = flo + mp.mpf(p) * (fhi - flo)
        x = mp.findroot(lambda x: F(x) - target, (lo, hi), solver="anderson", tol=mp.mpf(10) ** -40)
        rows.append([p, float(x), float(1 - target)])
    pdf = lambda x: x ** (shape - 1) * mp.e ** (-x / scale) / (mp.gamma(shape) * scale ** shape)
    mass = fhi - flo
    mean = mp.quad(lambda x: x * pdf(x), [lo, hi]) / mass
    var = mp.quad(lambda x: (x - mean) ** 2 * pdf(x), [lo, hi]) / mass
    return rows, float(mean), float(var)


def exact_discrete_truncation(law, lo, hi, shift):
    ks = np.arange(math.ceil(lo - shift), math.floor(hi - shift) + 1)
    pmf = law.pmf(ks)
    mass = pmf.sum()
    cdf = np.cumsum(pmf) / mass
    rows = []
    for p in TABLE_PS:
        i = int(np.searchsorted(cdf, p))
        rows.append([p, float(ks[min(i, len(ks) - 1)] + shift)])
    mean = float((ks * pmf).sum() / mass)
    var = float((((ks - mean) ** 2) * pmf).sum() / mass)
    return rows, mean + shift, var


def write_truncated():
    cases = []

    def add(base, params, lower, upper, shift, rows, mean, var, scale):
        cases.append({"base": {"family": base}, "params": params, "lower": lower, "upper": upper,
                      "shift": shift, "scale": scale, "mean": mean, "variance": var,
                      "quantiles": rows})

    for (m, s, lo, hi, shift) in [(0, 1, -1, 2, 0), (10, 2, 11, None, 0), (0, 1, None, -3, 0),
                                  (0, 1, 4, 7, 5)]:
        a = -np.inf if lo is None else (lo - shift - m) / s
        b = np.inf if hi is None else (hi - shift - m) / s
        law = stats.truncnorm(a, b, loc=m + shift, scale=s)
        base = stats.norm(m, s)
        flo = 0.0 if lo is None else base.cdf(lo - shift)
        fhi = 1.0 if hi is None else base.cdf(hi - shift)
        # Third column: the base upper-tail mass 1 - t at the probability t that the Rust
        # code inverts; below ~1e-4 the f64 resolution of t (not the method) limits accuracy.
        rows = [[p, float(law.ppf(p)), float(fhi - flo) * (1 - p) + (1 - fhi)] for p in TABLE_PS]
        add("normal", [m, s], lo, hi, shift, rows,
            float(law.mean()), float(law.var()), s)
    # Shifted lognormal (RiskLognorm2(mu, sigma) + 3), no truncation.
    law = stats.lognorm(0.5, scale=1.0, loc=3.0)
    add("lognormal2", [0, 0.5], None, None, 3.0, [[p, float(law.ppf(p)), 1 - p] for p in TABLE_PS],
        float(law.mean()), float(law.var()), 1.0)
    rows, mean, var = truncated_gamma(2, 3, 1, 10)
    add("gamma", [2, 3], 1, 10, 0, rows, mean, var, 3.0)
    rows, mean, var = exact_discrete_truncation(stats.poisson(4), 12, 16, 10)
    add("poisson", [4], 12, 16, 10, rows, mean, var, 1.0)
    rows, mean, var = exact_discrete_truncation(stats.binom(1000, 0.3), 280, 320, 0)
    add("binomial", [1000, 0.3], 280, 320, 0, rows, mean, var, 1.0)
    (OUT / "discrete_truncated.json").write_text(json.dumps(cases, indent=1) + "\n")
    return len(cases)


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    print("discrete rows:", write_discrete())
    print("table cases:", write_tables())
    print("truncated cases:", write_truncated())
