"""The primes kind's sieve against a plain definition of a prime."""

from __future__ import annotations

import itertools
import math

import pytest

from jobs.builtin_kinds import _small_primes, count_primes_between, primes_chunks


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, math.isqrt(n) + 1))


@pytest.mark.parametrize("below", [2, 3, 4, 10, 11, 100, 997, 10_007, 25_001, 123_457])
def test_chunked_count_matches_the_definition(below: int) -> None:
    base = _small_primes(math.isqrt(below))
    chunks = list(primes_chunks(below))
    assert chunks[0][0] == 0 and chunks[-1][1] == below
    assert all(a[1] == b[0] for a, b in itertools.pairwise(chunks)), "chunks tile the range"
    counted = sum(count_primes_between(lo, hi, base) for lo, hi in chunks)
    assert counted == sum(map(_is_prime, range(below)))


def test_known_counts() -> None:
    for below, count in [(10**6, 78498), (10**7, 664579)]:
        base = _small_primes(math.isqrt(below))
        assert sum(count_primes_between(lo, hi, base) for lo, hi in primes_chunks(below)) == count
    assert len(list(primes_chunks(10**9))) == 1000
