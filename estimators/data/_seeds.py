"""The shuffle's random generators for many passes at once.

A shuffle draws each pass of an enclosing `repeat` from
`default_rng(SeedSequence([given, seed, depth, *epochs]))` (see shuffle.py).
Building one costs ~20 µs, several times a 120-row permutation. For many
passes at once this computes numpy's `SeedSequence` hash for all the passes
in one vectorised pass over uint32 lanes, seeds `PCG64` as numpy does, and
hands out one reused `Generator` re-pointed at each state: the same draws,
bit for bit (tests/estimators/data/test_seeds.py compares with numpy).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from estimators.data._node import Context

__all__ = ["PassGenerators", "pcg64_states", "seed_sequence_states"]

# numpy/random/bit_generator.pyx
_INIT_A = np.uint32(0x43B0D7E5)
_MULT_A = np.uint32(0x931E8875)
_INIT_B = np.uint32(0x8B51F9DD)
_MULT_B = np.uint32(0x58F38DED)
_MIX_MULT_L = np.uint32(0xCA01F9DD)
_MIX_MULT_R = np.uint32(0x4973F715)
_XSHIFT = np.uint32(16)
_POOL_SIZE = 4
# numpy/random/src/pcg64/pcg64.h
_PCG_MULT = (2549297995355413924 << 64) + 4865540595714422341
_MASK128 = (1 << 128) - 1


class PassGenerators:
    """`shuffle.rng` of each pass of an enclosing `repeat`, computed in chunks.

    Args:
        shuffle: The `ShuffleNode` (its `rng(context)` is the reference).
        context: The context of the enclosing `repeat` (without the pass).
        chunk: Passes whose seeds are computed together (at least).
    """

    def __init__(self, shuffle: object, context: Context, chunk: int = 1024) -> None:
        self._shuffle = shuffle
        self._context = context
        self._chunk = chunk
        self._first = 0
        self._states: list[tuple[int, int]] = []
        self._prefix: list[int] | None = None
        self._generator = np.random.Generator(np.random.PCG64(0))
        self._inner = {"state": 0, "inc": 1}
        self._state = {
            "bit_generator": "PCG64",
            "state": self._inner,
            "has_uint32": 0,
            "uinteger": 0,
        }

    def __call__(self, first: int, count: int) -> Iterator[np.random.Generator]:
        """Generators of passes `first .. first + count - 1`.

        The generator yielded may be one object re-seeded for each pass: use
        it before asking for the next.
        """
        for epoch in range(first, first + count):
            index = epoch - self._first
            if not 0 <= index < len(self._states):
                if not self._compute(epoch, max(first + count - epoch, self._chunk)):
                    yield self._shuffle.rng(self._context.in_epoch(epoch))  # type: ignore[attr-defined]
                    continue
                index = 0
            self._inner["state"], self._inner["inc"] = self._states[index]
            self._generator.bit_generator.state = self._state
            yield self._generator

    def _compute(self, first: int, count: int) -> bool:
        """Seeds passes `first ..`; False when numpy's own path must be used."""
        if self._prefix is None:
            rng = self._shuffle.rng(self._context.in_epoch(first))  # type: ignore[attr-defined]
            entropy = rng.bit_generator.seed_seq.entropy
            if not isinstance(entropy, list) or entropy[-1:] != [first]:
                return False
            self._prefix = entropy[:-1]
        count = min(count, 2**32 - first)
        if count <= 0:
            return False
        epochs = np.arange(first, first + count, dtype=np.uint32)
        self._states = pcg64_states(seed_sequence_states(self._prefix, epochs))
        self._first = first
        return True


def _int_words(value: int) -> list[int]:
    """numpy's `_int_to_uint32_array`: little-endian 32-bit words, [0] for 0."""
    if value < 0:
        raise ValueError(f"entropy must be >= 0, got {value}")
    words = [] if value else [0]
    while value:
        words.append(value & 0xFFFFFFFF)
        value >>= 32
    return words


def _hashmix(value: np.ndarray, const: list[np.uint32]) -> np.ndarray:
    value = value ^ const[0]
    const[0] = np.uint32(const[0] * _MULT_A)
    value = value * const[0]
    return value ^ (value >> _XSHIFT)


def _mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    result = _MIX_MULT_L * x - _MIX_MULT_R * y
    return result ^ (result >> _XSHIFT)


def seed_sequence_states(prefix: Sequence[int], last: np.ndarray) -> np.ndarray:
    """`SeedSequence([*prefix, v]).generate_state(4, uint64)` for each `v` in `last`.

    Args:
        prefix: The entropy integers shared by every lane.
        last: One uint32 per lane: the last entropy integer.

    Returns:
        uint64 `[lanes, 4]`.
    """
    lanes = len(last)
    words = [np.full(lanes, w, np.uint32) for v in prefix for w in _int_words(v)]
    words.append(np.asarray(last, np.uint32))
    with np.errstate(over="ignore"):
        const = [_INIT_A]
        pool = []
        for i in range(_POOL_SIZE):
            word = words[i] if i < len(words) else np.zeros(lanes, np.uint32)
            pool.append(_hashmix(word, const))
        for src in range(_POOL_SIZE):
            for dst in range(_POOL_SIZE):
                if src != dst:
                    pool[dst] = _mix(pool[dst], _hashmix(pool[src], const))
        for src in range(_POOL_SIZE, len(words)):
            for dst in range(_POOL_SIZE):
                pool[dst] = _mix(pool[dst], _hashmix(words[src], const))
        out = np.empty((lanes, 8), np.uint32)
        hash_const = _INIT_B
        for i in range(8):
            value = pool[i % _POOL_SIZE] ^ hash_const
            hash_const = np.uint32(hash_const * _MULT_B)
            value = value * hash_const
            out[:, i] = value ^ (value >> _XSHIFT)
    return out.view("<u8")


def pcg64_states(seeds: np.ndarray) -> list[tuple[int, int]]:
    """`(state, inc)` of `PCG64` seeded with each row of uint64 `seeds[:, 4]`."""
    states = []
    for s_hi, s_lo, i_hi, i_lo in seeds.tolist():
        inc = ((((i_hi << 64) | i_lo) << 1) | 1) & _MASK128
        # pcg_setseq_128_srandom_r: state 0, step (0 * mult + inc), add the
        # seed, step again.
        state = (inc + ((s_hi << 64) | s_lo)) & _MASK128
        state = (state * _PCG_MULT + inc) & _MASK128
        states.append((state, inc))
    return states
