"""hf-vlm's packed continuations: the layout and mask, against tries worked out by hand."""

from __future__ import annotations

import torch

from colorbench.plugins.hfvlm.tree import PREFIX_END, attention_bias, pack


def test_answers_sharing_leading_tokens_share_their_trie_nodes():
    # question 0: rest (7, 8), answers 1-2-3, 1-2-4, 5; question 1: rest (9), answer 1-6
    packed = pack([(7, 8), (9,)], [[(1, 2, 3), (1, 2, 4), (5,)], [(1, 6)]])
    # fed: 7 8 | 1 (prefix "1") 2 (prefix "1 2") | 9 | 1 (prefix "1" of question 1)
    assert packed.ids == (7, 8, 1, 2, 9, 1)
    assert packed.depth == (0, 1, 2, 3, 0, 1)
    assert packed.parent == (PREFIX_END, 0, 1, 2, PREFIX_END, 4)
    # logits where a next token is scored: after 8, after 1, after 1 2, after 9, after 9 1
    assert packed.keep == (1, 2, 3, 4, 5)
    assert packed.scored == (
        (((0, 1), (1, 2), (2, 3)), ((0, 1), (1, 2), (2, 4)), ((0, 5),)),
        (((3, 1), (4, 6)),),
    )


def test_a_question_without_rest_is_predicted_by_the_prefix_end():
    packed = pack([()], [[(4,), (5, 6)]])
    assert packed.ids == (5,)
    assert packed.keep == (PREFIX_END, 0)
    assert packed.scored == ((((0, 4),), ((0, 5), (1, 6))),)


def test_each_token_sees_the_prefix_and_its_ancestors_only():
    packed = pack([(7, 8), (9,)], [[(1, 2, 3), (5, 6)], [(1, 6)]])
    # 0:7 1:8 2:1 3:2 4:5 | 5:9 6:1
    bias = attention_bias(packed, cached=3, dtype=torch.float32)
    assert bias.shape == (1, 1, 7, 3 + 7)
    seen = bias[0, 0] == 0
    assert seen[:, :3].all()  # the cached prefix
    expected = {0: {0}, 1: {0, 1}, 2: {0, 1, 2}, 3: {0, 1, 2, 3}, 4: {0, 1, 4}, 5: {5}, 6: {5, 6}}
    for i, keys in expected.items():
        assert set(torch.nonzero(seen[i, 3:]).flatten().tolist()) == keys
    assert bias.min() == torch.finfo(torch.float32).min


def test_a_sliding_window_counts_full_pass_indices():
    """Token at depth d after 10 cached tokens has full-pass index 10 + d; with a window of 4
    it sees indices 10 + d - 3 .. 10 + d, whatever its place in the packed row."""
    packed = pack([(7, 8), (9,)], [[(1, 2)], [(3,)]])  # 0:7 1:8 2:1 | 3:9
    seen = attention_bias(packed, cached=10, dtype=torch.float32, window=4)[0, 0] == 0
    assert set(torch.nonzero(seen[2, :10]).flatten().tolist()) == {9}  # index 12: sees 9-12
    assert seen[2, 10:].tolist() == [True, True, True, False]
    assert set(torch.nonzero(seen[3, :10]).flatten().tolist()) == {7, 8, 9}  # index 10
    assert seen[3, 10:].tolist() == [False, False, False, True]
