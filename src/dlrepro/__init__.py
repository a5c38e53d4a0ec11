"""dlrepro: a reference implementation of a classic deep-learning course study.

Three studies: MLPs (NumPy from scratch and PyTorch) on toy data and CIFAR-10, a VGG-style ConvNet
with an optimizer study, and recurrent nets that must remember the first digit of a palindrome.
"""

__version__ = "0.1.0"
