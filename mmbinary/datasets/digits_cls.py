"""scikit-learn's handwritten digits as an mmpretrain classification dataset (no download).

1,797 real 8x8 grey images of the digits 0-9 ship inside scikit-learn. :class:`DigitsDataset`
serves them in mmpretrain's in-memory format (like mmpretrain's ``CIFAR10``): each sample holds
``img``, a ``uint8`` ``H x W x 3`` array (the 0-16 grey levels scaled to 0-255, upsampled
bilinearly to ``img_size`` and repeated on three channels), and ``gt_label``. The pipeline starts
after loading, e.g. ``[dict(type='PackInputs')]``, optionally with mmpretrain augmentations.

The train / test split is stratified by class and fixed by ``seed``: it is the split of
:func:`mmbinary.datasets.load_digits_split` for the same ``test_fraction`` and ``seed``.
"""

import numbers

import numpy as np
from mmcv.image import imresize
from mmpretrain.datasets import BaseDataset

from mmbinary.registry import DATASETS


def _split_indices(test_fraction: float, seed: int):
    """``(train_indices, test_indices, images, labels)``: the split of ``load_digits_split``.

    ``images`` are the raw ``(1797, 8, 8)`` grey levels 0-16, ``labels`` the digits.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    train, test = train_test_split(
        np.arange(len(digits.target)),
        test_size=test_fraction,
        random_state=seed,
        stratify=digits.target,
    )
    return train, test, digits.images, digits.target


@DATASETS.register_module()
class DigitsDataset(BaseDataset):
    """scikit-learn's digits, upsampled to ``img_size`` x ``img_size`` RGB ``uint8`` images.

    Args:
        split (str): ``'train'`` or ``'test'`` (the held-out part). Default ``'train'``.
        test_fraction (float): held-out fraction in (0, 1), stratified by class. Default 0.2
            (1,437 train / 360 test images).
        seed (int): seed of the split. Default 0.
        img_size (int): side of the square output images, >= 8. Default 32.
        **kwargs: other arguments of mmpretrain's ``BaseDataset`` (``pipeline``,
            ``test_mode``, ``indices``, ...).

    Example:
        >>> from mmbinary.datasets import DigitsDataset
        >>> dataset = DigitsDataset(split='test', pipeline=[dict(type='PackInputs')])
        >>> len(dataset), dataset.get_data_info(0)['img'].shape
        (360, (32, 32, 3))
    """

    METAINFO = {'classes': tuple(str(i) for i in range(10))}
    SPLITS = ('train', 'test')

    def __init__(
        self,
        split: str = 'train',
        test_fraction: float = 0.2,
        seed: int = 0,
        img_size: int = 32,
        **kwargs,
    ):
        if split not in self.SPLITS:
            raise ValueError(
                f'DigitsDataset: invalid split {split!r}; allowed: {list(self.SPLITS)}'
            )
        if isinstance(img_size, bool) or not isinstance(img_size, numbers.Integral) or img_size < 8:
            raise ValueError(f'DigitsDataset: img_size must be an int >= 8, got {img_size!r}')
        if not isinstance(test_fraction, numbers.Real) or not 0 < test_fraction < 1:
            raise ValueError(
                f'DigitsDataset: test_fraction must be in (0, 1), got {test_fraction!r}'
            )
        self.split, self.test_fraction, self.seed = split, test_fraction, seed
        self.img_size = int(img_size)
        super().__init__(ann_file='', **kwargs)

    def load_data_list(self):
        train, test, images, labels = _split_indices(self.test_fraction, self.seed)
        data_list = []
        for i in train if self.split == 'train' else test:
            grey = np.round(images[i] * (255.0 / 16.0)).astype(np.uint8)
            grey = imresize(grey, (self.img_size, self.img_size), interpolation='bilinear')
            img = np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
            data_list.append(dict(img=img, gt_label=int(labels[i])))
        return data_list

    def extra_repr(self):
        return [
            f'Split: \t{self.split}',
            f'Test fraction: \t{self.test_fraction}',
            f'Seed: \t{self.seed}',
            f'Image size: \t{self.img_size}',
        ]
