#!/usr/bin/env python3
"""npv10.xlsx run as a Monte Carlo loop by the Python spreadsheet engines pycel and
`formulas`: each iteration draws the four inputs (same distributions and rank correlation
as the model, numpy float64), writes them into the input cells and recalculates the two
output cells. The workbook is first copied without its @RISK calls (inputs become plain
numbers, RiskOutput(...) terms are dropped), since neither engine knows them.

Prints one JSON line per engine: {"engine", "iterations", "seconds", "rate", "npv_mean"}.
Usage: npv10_python_engines.py WORKBOOK SECONDS_PER_ENGINE [ENGINES]
(ENGINES: comma-separated subset of pycel,formulas; default both)"""
import json
import os
import re
import sys
import tempfile
import time

import numpy as np
import openpyxl
from scipy.special import ndtr, ndtri

INPUTS = {"B2": "base_revenue", "B3": "growth", "B4": "cost_ratio", "B5": "rate"}
OUTPUTS = ["B26", "B27"]


def plain_copy(path):
    workbook = openpyxl.load_workbook(path)
    sheet = workbook["Model"]
    for cell in INPUTS:
        sheet[cell] = 0.0
    for cell in OUTPUTS:
        sheet[cell] = re.sub(r'RiskOutput\("[^"]*"\)\s*\+\s*', "", sheet[cell].value)
    handle, copy = tempfile.mkstemp(suffix=".xlsx")
    os.close(handle)
    workbook.save(copy)
    return copy


def draws(n, seed=42):
    rng = np.random.default_rng(seed)
    u = rng.random((n, 4))
    rho = 2.0 * np.sin(np.pi * 0.3 / 6.0)
    z0, z1 = ndtri(u[:, 0]), ndtri(u[:, 1])
    u[:, 1] = ndtr(rho * z0 + np.sqrt(1 - rho * rho) * z1)
    a, c, b = 80.0, 100.0, 130.0
    fc = (c - a) / (b - a)
    revenue = np.where(u[:, 0] < fc, a + np.sqrt(u[:, 0] * (b - a) * (c - a)),
                       b - np.sqrt((1 - u[:, 0]) * (b - a) * (b - c)))
    return np.column_stack([revenue, 0.05 + 0.02 * ndtri(u[:, 1]),
                            0.55 + 0.15 * u[:, 2], 0.07 + 0.04 * u[:, 3]])


def run_pycel(path, budget):
    from openpyxl.workbook.defined_name import DefinedNameDict
    from pycel import ExcelCompiler

    # pycel 1.0b30 reads defined names through the openpyxl < 3.1 API.
    if not hasattr(DefinedNameDict, "definedName"):
        DefinedNameDict.definedName = property(lambda names: list(names.values()))
    excel = ExcelCompiler(filename=path)
    for cell in OUTPUTS:  # places the inputs in pycel's cell map
        excel.evaluate(f"Model!{cell}")
    samples, npv = draws(1_000_000), []
    start = time.perf_counter()
    while time.perf_counter() - start < budget and len(npv) < len(samples):
        row = samples[len(npv)]
        for value, cell in zip(row, INPUTS):
            excel.set_value(f"Model!{cell}", float(value))
        npv.append(excel.evaluate("Model!B26"))
        excel.evaluate("Model!B27")
    return len(npv), time.perf_counter() - start, float(np.mean(npv))


def run_formulas(path, budget):
    import formulas
    model = formulas.ExcelModel().loads(path).finish()
    book = os.path.basename(path)
    ref = lambda cell: f"'[{book}]MODEL'!{cell}"
    samples, npv = draws(1_000_000), []
    start = time.perf_counter()
    while time.perf_counter() - start < budget and len(npv) < len(samples):
        row = samples[len(npv)]
        solution = model.calculate(
            inputs={ref(cell): float(value) for value, cell in zip(row, INPUTS)},
            outputs=[ref(cell) for cell in OUTPUTS])
        npv.append(float(np.asarray(solution[ref("B26")].value).ravel()[0]))
    return len(npv), time.perf_counter() - start, float(np.mean(npv))


def main():
    path, budget = sys.argv[1], float(sys.argv[2])
    wanted = (sys.argv[3] if len(sys.argv) > 3 else "pycel,formulas").split(",")
    copy = plain_copy(path)
    try:
        for name, run in (("pycel", run_pycel), ("formulas", run_formulas)):
            if name not in wanted:
                continue
            n, seconds, mean = run(copy, budget)
            print(json.dumps({"engine": name, "iterations": n, "seconds": seconds,
                              "rate": n / seconds, "npv_mean": mean}), flush=True)
    finally:
        os.remove(copy)


if __name__ == "__main__":
    main()
