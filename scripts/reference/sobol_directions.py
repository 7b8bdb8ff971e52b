#!/usr/bin/env python3
"""Extract Joe-Kuo Sobol' direction numbers (new-joe-kuo-6.21201) for the first 1024
dimensions from the table that scipy ships, into the compact binary file that
`crates/engine/src/sampling/sobol.rs` embeds with `include_bytes!`.

File layout (`sobol_joe_kuo_1024.bin`, all little-endian u16):
  * 1024 primitive polynomials `poly[d]`, encoded as scipy does: bit s is the leading
    term, bit 0 the constant term, degree s = bit_length(poly) - 1 (dimension 0: poly 1,
    degree 0, no initial numbers);
  * then, for d = 0..1024 in order, the s initial direction integers m_1..m_s of d.

It also checks the direction numbers derived from that file (the same recurrence as the
Rust code) against scipy's unscrambled `qmc.Sobol(bits=32)` points, and writes a small
reference table of unscrambled points, `crates/engine/tests/data/sampling_sobol_reference.json`,
that the Rust tests compare with.

Run from the repository root: python3 scripts/reference/sobol_directions.py
"""

import json
import os
import struct

import numpy as np
import scipy
from scipy.stats import qmc

DIMS = 1024
BITS = 32
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN_OUT = os.path.join(ROOT, "crates/engine/src/sampling/sobol_joe_kuo_1024.bin")
REF_OUT = os.path.join(ROOT, "crates/engine/tests/data/sampling_sobol_reference.json")


def directions(poly, m_init):
    """Bratley-Fox recurrence (as in scipy's _sobol.pyx): 32 direction numbers v_j,
    v_j = m_j << (32 - j) for j = 1..32."""
    s = poly.bit_length() - 1
    if s == 0:
        m = [1] * BITS
    else:
        m = list(m_init)
        for j in range(s, BITS):
            new = m[j - s] ^ (m[j - s] << s)
            for k in range(1, s):
                if (poly >> (s - k)) & 1:
                    new ^= m[j - k] << k
            m.append(new)
    return [(m[j] << (BITS - 1 - j)) & 0xFFFFFFFF for j in range(BITS)]


def point(v, index):
    """Unscrambled point `index` in Gray-code order (the order scipy and Joe-Kuo use)."""
    g = index ^ (index >> 1)
    x = 0
    b = 0
    while g:
        if g & 1:
            x ^= v[b]
        g >>= 1
        b += 1
    return x


def main():
    table = np.load(os.path.join(os.path.dirname(scipy.__file__), "stats/_sobol_direction_numbers.npz"))
    polys = [int(p) for p in table["poly"][:DIMS]]
    vinit = table["vinit"][:DIMS]
    inits = [[int(x) for x in vinit[d][: polys[d].bit_length() - 1]] for d in range(DIMS)]
    assert all(p < 1 << 16 for p in polys) and all(x < 1 << 16 for m in inits for x in m)

    data = struct.pack(f"<{DIMS}H", *polys)
    for m in inits:
        data += struct.pack(f"<{len(m)}H", *m)
    with open(BIN_OUT, "wb") as f:
        f.write(data)

    dirs = [directions(polys[d], inits[d]) for d in range(DIMS)]

    # Cross-check all dimensions against scipy on the first 1024 points.
    n = 1024
    ref = qmc.Sobol(DIMS, scramble=False, bits=BITS).random(n) * 2.0**BITS
    ours = np.array([[point(dirs[d], i) for d in range(DIMS)] for i in range(n)], dtype=np.float64)
    assert np.array_equal(ref, ours), "direction numbers disagree with scipy"

    # Small reference table for the Rust tests (scipy's own points, not ours).
    sel_dims = [0, 1, 2, 3, 7, 100, 511, 1023]
    sel_idx = list(range(16)) + [255, 1000, 1023]
    points = {str(d): [int(ref[i, d]) for i in sel_idx] for d in sel_dims}
    far = 1_000_003
    eng = qmc.Sobol(8, scramble=False, bits=BITS)
    eng.fast_forward(far)
    far_pts = eng.random(1)[0] * 2.0**BITS
    for d in range(8):
        assert int(far_pts[d]) == point(dirs[d], far)
    with open(REF_OUT, "w") as f:
        json.dump(
            {
                "source": f"scipy {scipy.__version__} qmc.Sobol(scramble=False, bits=32), x * 2^32",
                "indices": sel_idx,
                "points": points,
                "far_index": far,
                "far_points_dims_0_7": [int(x) for x in far_pts],
            },
            f,
            indent=1,
        )
        f.write("\n")
    print(f"wrote {BIN_OUT} ({len(data)} bytes) and {REF_OUT}")


if __name__ == "__main__":
    main()
