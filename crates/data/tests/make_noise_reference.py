"""Reference values for rdpp-data's OpenSimplex port and the RD++ pseudo-anomaly noise.

The official RD++ code (`dataset/noise.py`) carries a copy of the `opensimplex` package
(lmas/opensimplex, MIT): same permutation set-up from a 64-bit seed, same 3-D gradients,
NORM_CONSTANT3 = 103. This script uses the PyPI package `opensimplex==0.4.5.1`, which has the same
algorithm, and the octave loop of the official `rand_3d_octaves` (restated below):

    noise = 0; amplitude = 1; frequency = 32
    repeat 6 times:
        noise += amplitude * noise3array(x / frequency, y / frequency, z / frequency)
        frequency /= 2; amplitude *= 0.6

Run: `python3 crates/data/tests/make_noise_reference.py` (needs numpy and opensimplex). Writes
`crates/data/tests/data/noise_reference.json`; the Rust tests only read it.
"""
import json
import os

import numpy as np
from opensimplex import OpenSimplex

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "noise_reference.json")


def rand_3d_octaves(gen, shape, octaves=6, persistence=0.6, frequency=32):
    z, y, x = [np.arange(0, end) for end in shape]
    noise = np.zeros(shape)
    amplitude = 1
    for _ in range(octaves):
        noise += amplitude * gen.noise3array(x / frequency, y / frequency, z / frequency)
        frequency /= 2
        amplitude *= persistence
    return noise


rng = np.random.default_rng(7)
cases = []
for seed in [3, 111, -987654321, 9999999999, -10000000000, 2**63 - 1]:
    gen = OpenSimplex(seed)
    pts = rng.uniform(-40, 40, (30, 3))
    # Integer and half-integer lattice points hit the boundary branches.
    pts = np.concatenate([pts, rng.integers(-5, 5, (8, 3)).astype(float), rng.integers(-10, 10, (8, 3)) / 2])
    single = [[float(x), float(y), float(z), gen.noise3(float(x), float(y), float(z))] for x, y, z in pts]
    # The full 6-octave field for three seeds (keeps the file small).
    shape = (3, 11, 17) if seed in (3, 111, -987654321) else (0, 0, 0)
    octaves = rand_3d_octaves(gen, shape)
    cases.append({
        "seed": seed,
        "perm": [int(v) for v in gen._perm],
        "noise3": single,
        "octaves_shape": list(shape),
        "octaves": [float(v) for v in octaves.ravel()],
    })

with open(OUT, "w") as f:
    json.dump({"opensimplex": "0.4.5.1", "cases": cases}, f)
print("wrote", OUT, os.path.getsize(OUT), "bytes")

# Empirical range of one noise3 call and of the 6-octave sum (printed for the docs).
gen = OpenSimplex(12345)
xs = rng.uniform(-100, 100, 200000)
vals = np.array([gen.noise3(*p) for p in rng.uniform(-100, 100, (200000, 3))])
print("noise3 range over 200k points:", vals.min(), vals.max())
