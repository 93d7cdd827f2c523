"""The vectorised SeedSequence / PCG64 seeding against numpy's own."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from estimators.data._node import Context
from estimators.data._seeds import PassGenerators, pcg64_states, seed_sequence_states
from estimators.data.shuffle import ShuffleNode
from estimators.data.sources import slices_source


@settings(max_examples=60, deadline=None)
@given(
    prefix=st.lists(st.integers(0, 2**64 - 1), min_size=0, max_size=6),
    last=st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=5),
)
def test_seed_states_equal_numpys(prefix, last):
    got = seed_sequence_states(prefix, np.array(last, np.uint32))
    for row, value in zip(got, last, strict=True):
        sequence = np.random.SeedSequence([*prefix, value])
        assert row.tolist() == sequence.generate_state(4, np.uint64).tolist()
        state = np.random.PCG64(sequence).state["state"]
        assert pcg64_states(row[None]) == [(state["state"], state["inc"])]


def test_pass_generators_draw_what_the_shuffle_draws():
    shuffle = ShuffleNode(slices_source(np.arange(10)), 10, None, True)
    context = Context(seed=2**62 + 5, epochs=(3,))
    generators = PassGenerators(shuffle, context, chunk=4)
    drawn = [rng.permutation(10).tolist() for rng in generators(2, 9)]
    expected = [
        shuffle.rng(context.in_epoch(epoch)).permutation(10).tolist()
        for epoch in range(2, 11)
    ]
    assert drawn == expected
