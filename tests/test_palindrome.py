import subprocess
import sys

import pytest
import torch

from dlrepro.data import palindrome
from dlrepro.errors import ConfigError
from dlrepro.train.config import RNNConfig
from dlrepro.train.rnn_task import PalindromeTask


@pytest.mark.parametrize("length", [1, 2, 5, 10, 15, 20])
def test_every_sample_is_a_palindrome(length):
    digits, target = palindrome.sample(500, length, torch.Generator().manual_seed(length))
    assert digits.shape == (500, length) and target.shape == (500,)
    assert digits.dtype == target.dtype == torch.int64
    full = torch.cat([digits, target[:, None]], dim=1)
    assert torch.equal(full, full.flip(1))
    assert torch.equal(target, digits[:, 0])
    assert digits.min() >= 0 and digits.max() <= 9


def test_left_half_is_uniform_with_leading_zeros():
    digits, _ = palindrome.sample(20000, 9, torch.Generator().manual_seed(0))
    counts = torch.bincount(digits[:, 0], minlength=10).float() / 20000
    assert (counts - 0.1).abs().max() < 0.015 and counts[0] > 0.08


def test_same_seed_same_samples_other_seed_other_samples():
    a = palindrome.sample(64, 10, torch.Generator().manual_seed(5))[0]
    b = palindrome.sample(64, 10, torch.Generator().manual_seed(5))[0]
    c = palindrome.sample(64, 10, torch.Generator().manual_seed(6))[0]
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_encodings():
    digits = torch.tensor([[3, 0, 3]])
    assert palindrome.encode(digits).tolist() == [[[3.0], [0.0], [3.0]]]
    one_hot = palindrome.encode(digits, one_hot=True)
    assert one_hot.shape == (1, 3, 10) and one_hot[0, 0, 3] == 1 and one_hot.sum() == 3


def test_bad_length():
    with pytest.raises(ConfigError, match="input-length"):
        palindrome.sample(4, 0, torch.Generator())


def test_held_out_overlap_is_stated_per_length():
    draws = 10_000 * 128  # the study's steps x batch
    short = palindrome.held_out_overlap(5, 1024, draws)
    assert short.n_sequences == 1000 and not short.disjoint and short.expected_seen > 0.999
    assert palindrome.held_out_overlap(9, 1024, draws).disjoint is False  # 10^5 sequences: 1 % is 1,000 < 1,024
    small = palindrome.held_out_overlap(8, 1024, 1000)  # 1 - (1 - 1e-5)^1000
    assert abs(small.expected_seen - 0.00995) < 1e-4
    for length, n in ((10, 10**6), (15, 10**8), (20, 10**11)):
        assert palindrome.held_out_overlap(length, 1024, draws) == (True, 0.0, n)
    assert palindrome.held_out_overlap(10, 20_000, draws).disjoint is False  # 2 % of 10^6: not excluded


def test_held_out_overlap_needs_no_torch():
    code = ("import sys; sys.modules['torch'] = None; from dlrepro.data import palindrome; "
            "print(palindrome.held_out_overlap(10, 1024, 100).disjoint)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"


def test_keys_identify_sequences():
    digits, _ = palindrome.sample(3000, 4, torch.Generator().manual_seed(0))  # 1,000 sequences
    k = palindrome.keys(digits)
    assert len(torch.unique(k)) == len(torch.unique(digits, dim=0))
    assert palindrome.keys(torch.tensor([[1, 2, 3, 9, 9]])).tolist() == [123]


def test_excluded_sequences_are_redrawn():
    everything = torch.tensor([[a, b, a] for a in range(10) for b in range(10)])  # L = 3: 100 sequences
    exclude = palindrome.keys(everything[::2])
    digits, target = palindrome.sample(5000, 3, torch.Generator().manual_seed(1), exclude=exclude)
    drawn = palindrome.keys(digits)
    assert not torch.isin(drawn, exclude).any()
    assert set(drawn.tolist()) == set(palindrome.keys(everything[1::2]).tolist())  # the rest is still drawn
    assert torch.equal(target, digits[:, 0])


def test_training_never_draws_a_held_out_sequence():
    """At L = 10 (10^6 sequences) 200 batches would hit the 1,024 test sequences about 26 times; they must not."""
    cfg = RNNConfig(input_length=10, test_size=1024, batch_size=128)
    task = PalindromeTask(cfg)
    test_keys = palindrome.keys(task.test_x.squeeze(-1).long())
    assert task.exclude is not None and torch.equal(torch.sort(task.exclude).values, torch.sort(test_keys).values)
    stream = torch.Generator()
    stream.set_state(task.stream.get_state())
    unguarded = palindrome.sample(200 * 128, 10, stream)[0]
    assert torch.isin(palindrome.keys(unguarded), test_keys).sum() >= 5  # the check below can fail
    drawn = torch.cat([task._batch(task.stream)[0].squeeze(-1).long() for _ in range(200)])
    assert not torch.isin(palindrome.keys(drawn), test_keys).any()


def test_short_lengths_keep_the_overlapping_test_set():
    task = PalindromeTask(RNNConfig(input_length=5))
    assert task.exclude is None  # all 1,000 sequences are needed for training; the report states the overlap
