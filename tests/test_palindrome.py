import pytest
import torch

from dlrepro.data import palindrome
from dlrepro.errors import ConfigError


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
