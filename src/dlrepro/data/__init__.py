"""Datasets: toy 2-D sets (scikit-learn), palindromes, CIFAR-10. Their errors are `dlrepro.errors.DatasetError`."""
