"""scikit-learn's bundled handwritten digits (1,797 real 8x8 images, no download).

Used by the tests, the tiny recipes and the binarizer study: a fixed, stratified train /
held-out split, pixel values scaled to [0, 1] then standardised with train statistics.
"""

import numpy as np
import torch


def load_digits_split(test_fraction: float = 0.2, seed: int = 0):
    """Return ``(x_train, y_train, x_test, y_test)`` tensors; images are ``(N, 1, 8, 8)``.

    Args:
        test_fraction (float): held-out fraction in (0, 1), stratified by class.
        seed (int): seed of the split.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f'test_fraction must be in (0, 1), got {test_fraction!r}')
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = digits.images.astype(np.float32) / 16.0
    x_tr, x_te, y_tr, y_te = train_test_split(
        images, digits.target, test_size=test_fraction, random_state=seed, stratify=digits.target
    )
    mean, std = x_tr.mean(), x_tr.std()
    to_x = lambda a: torch.from_numpy((a - mean) / std).unsqueeze(1)  # noqa: E731
    to_y = lambda a: torch.from_numpy(a.astype(np.int64))  # noqa: E731
    return to_x(x_tr), to_y(y_tr), to_x(x_te), to_y(y_te)
