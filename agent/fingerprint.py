"""Top-k logit fingerprints for inference results (the TOPLOC idea).

While decoding, the provider takes the `TOP_K` largest logits of every step.
For each chunk of `CHUNK` steps it interpolates one polynomial modulo a prime
through the points (step-in-chunk x vocabulary + token id, float16 bits of
the logit) and commits its coefficients with the result: one number per
(step, rank), and no token ids, since the verifier brings its own. The
verifier, in its teacher-forced prefill over the claimed tokens, takes its
own top-k, evaluates the polynomial at its own token ids and compares the
logit values the provider committed with its own.

Tolerance: |claimed - own| <= ABS_TOL + REL_TOL x |own|. Float16 storage
rounds by at most 2^-11 relative (5e-4); fp32 kernels on CPU and GPU differ
by ~1e-5 (2.3e-5 measured between this CPU and an H100); bf16 kernels by
~1e-2. The bound leaves room for all three, while another model (a smaller
one, a quantised one, perturbed weights) moves logits by 1e-1 or more, and a
made-up fingerprint evaluates to noise at the verifier's ids. A top-k entry
whose logit lies within `near_tie` of the first logit outside the top-k may
honestly be missing from the provider's set (its rank is noise), so a
mismatch there is excused.
"""

import struct
from collections.abc import Sequence
from typing import Any

PRIME = 2**31 - 1
TOP_K = 4
CHUNK = 8
ABS_TOL = 1e-2
REL_TOL = 2e-3
F16_MAX = 65504.0

# A step's top-(k+1) logits as the model gives them: token ids and values, highest first.
Step = tuple[Sequence[int], Sequence[float]]


def f16_bits(value: float) -> int:
    return int.from_bytes(struct.pack("<e", max(-F16_MAX, min(F16_MAX, value))), "little")


def f16_value(bits: int) -> float | None:
    if not 0 <= bits < 1 << 16:
        return None
    value: float = struct.unpack("<e", bits.to_bytes(2, "little"))[0]
    return value if abs(value) <= F16_MAX else None  # no inf, no nan


def interpolate(points: Sequence[tuple[int, int]]) -> list[int]:
    """Coefficients (lowest degree first) of the polynomial mod PRIME through
    `points` (distinct x), by Lagrange's formula: n inversions, n^2 products."""
    xs = [x % PRIME for x, _ in points]
    whole = [1]  # prod (x - x_j), highest degree last
    for xj in xs:
        whole = [(low - xj * high) % PRIME for low, high in zip([0, *whole], [*whole, 0], strict=True)]
    coeffs = [0] * len(xs)
    for i, (xi, (_, yi)) in enumerate(zip(xs, points, strict=True)):
        denominator = 1
        for j, xj in enumerate(xs):
            if j != i:
                denominator = denominator * (xi - xj) % PRIME
        scale = yi * pow(denominator, PRIME - 2, PRIME) % PRIME
        carry = 0  # synthetic division of `whole` by (x - xi), from the top
        for degree in range(len(xs) - 1, -1, -1):
            carry = (whole[degree + 1] + xi * carry) % PRIME
            coeffs[degree] = (coeffs[degree] + scale * carry) % PRIME
    return coeffs


def evaluate(coeffs: Sequence[int], x: int) -> int:
    total = 0
    for c in reversed(coeffs):
        total = (total * x + c) % PRIME
    return total


def make(steps: Sequence[Step], vocab: int) -> list[list[int]]:
    """The fingerprint of a decode: one coefficient list per chunk of steps."""
    chunks = []
    for start in range(0, len(steps), CHUNK):
        points = [
            (offset * vocab + int(token), f16_bits(float(value)))
            for offset, (tokens, values) in enumerate(steps[start : start + CHUNK])
            for token, value in zip(tokens[:TOP_K], values[:TOP_K], strict=True)
        ]
        chunks.append(interpolate(points))
    return chunks


def check(claimed: Any, steps: Sequence[Step], vocab: int, near_tie: float) -> str | None:
    """Why the claimed fingerprint does not fit the verifier's own top-(k+1)
    logits per step, or None when it does."""
    if not isinstance(claimed, list) or len(claimed) != -(-len(steps) // CHUNK):
        return "the fingerprint does not cover every step"
    for chunk_index, coeffs in enumerate(claimed):
        start = chunk_index * CHUNK
        count = min(CHUNK, len(steps) - start) * TOP_K
        if (
            not isinstance(coeffs, list)
            or len(coeffs) != count
            or not all(isinstance(c, int) for c in coeffs)
        ):
            return f"fingerprint chunk {chunk_index} is malformed"
        for offset, (tokens, values) in enumerate(steps[start : start + CHUNK]):
            boundary = float(values[TOP_K]) if len(values) > TOP_K else float("-inf")
            for token, value in zip(tokens[:TOP_K], values[:TOP_K], strict=True):
                got = f16_value(evaluate(coeffs, offset * vocab + int(token)))
                if got is not None and abs(got - float(value)) <= ABS_TOL + REL_TOL * abs(float(value)):
                    continue
                if float(value) - boundary < near_tie:
                    continue  # its rank is within noise of the k-th: may be missing from the provider's set
                shown = "nothing" if got is None else f"{got:.4f}"
                return f"step {start + offset}: logit of token {token} committed as {shown}, is {float(value):.4f}"
    return None
