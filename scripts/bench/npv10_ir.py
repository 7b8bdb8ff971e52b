#!/usr/bin/env python3
"""Writes the ten-year NPV model of shared/models/npv10.json as engine IR, lowered by hand
cell by cell exactly as its formulas read (no common-subexpression elimination), so that the
engine benchmark can run before the formula compiler lands.

NPV(rate, cf1..cf10) is lowered as Excel defines it: sum of cf_t / (1 + rate)^t, with the
discount factors built by repeated multiplication."""
import json
import sys

nodes = []


def node(op, label=None, **fields):
    node_id = len(nodes) + 1
    entry = {"id": node_id, "op": op, **fields}
    if label:
        entry["label"] = label
    nodes.append(entry)
    return node_id


def const(value):
    return node("const", value=value)


def call(func, *args, label=None):
    return node("call", label=label, func=func, args=list(args))


def risk(family, label, *params):
    ids = [const(p) for p in params]
    return node("input", label=label, distribution={"family": family}, params=ids)


investment = const(250.0)
base_revenue = risk("triang", "base_revenue", 80.0, 100.0, 130.0)
growth = risk("normal", "growth", 0.05, 0.02)
cost_ratio = risk("uniform", "cost_ratio", 0.55, 0.70)
rate = risk("uniform", "rate", 0.07, 0.11)
one = const(1.0)

revenue = base_revenue  # rev1 = base_revenue
cash_flows = []
for year in range(1, 11):
    if year > 1:
        revenue = call("mul", revenue, call("add", one, growth), label=f"rev{year}")
    cash_flows.append(call("mul", revenue, call("sub", one, cost_ratio), label=f"cf{year}"))

discount = call("div", one, call("add", one, rate))
factor = discount
terms = []
for year, cash_flow in enumerate(cash_flows, start=1):
    if year > 1:
        factor = call("mul", factor, discount)
    terms.append(call("mul", cash_flow, factor))
npv = call("sub", call("sum", *terms), investment, label="NPV")
node("output", name="NPV", arg=npv)
total = call("sum", *cash_flows, label="TotalCash")
node("output", name="Total cash", arg=total)

model = {
    "name": "Ten-year project NPV",
    "nodes": nodes,
    "correlations": [{"a": base_revenue, "b": growth, "rank": 0.3}],
}
json.dump(model, sys.stdout, indent=1)
print()
