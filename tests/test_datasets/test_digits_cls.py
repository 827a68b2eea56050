"""DigitsDataset: scikit-learn's real 8x8 digits as an mmpretrain dataset (no download)."""

from collections import Counter

import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope
from sklearn.datasets import load_digits

from mmbinary.datasets import DigitsDataset, load_digits_split


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    """Build in mmpretrain's scope, whatever default scope an earlier test left (e.g. mmpose)."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


def images_and_labels(dataset):
    imgs = np.stack([dataset.get_data_info(i)['img'] for i in range(len(dataset))])
    labels = np.array([dataset.get_data_info(i)['gt_label'] for i in range(len(dataset))])
    return imgs, labels


def test_split_sizes_classes_and_image_format():
    train = DigitsDataset(split='train', img_size=16)
    test = DigitsDataset(split='test', img_size=16)
    assert (len(train), len(test)) == (1437, 360)  # 1,797 images, 20 % held out
    assert train.metainfo['classes'] == tuple('0123456789')
    img = test.get_data_info(0)['img']
    assert img.shape == (16, 16, 3) and img.dtype == np.uint8
    assert (img[..., 0] == img[..., 1]).all() and (img[..., 0] == img[..., 2]).all()  # grey
    imgs, _ = images_and_labels(train)
    assert imgs.min() == 0 and imgs.max() == 255  # the 0-16 grey levels scaled to 0-255


def test_split_is_stratified_and_disjoint():
    train_imgs, train_labels = images_and_labels(DigitsDataset(split='train', img_size=8))
    test_imgs, test_labels = images_and_labels(DigitsDataset(split='test', img_size=8))
    totals = Counter(load_digits().target.tolist())
    test_counts = Counter(test_labels.tolist())
    assert sorted(test_counts) == list(range(10))
    for digit, total in totals.items():
        # stratified: each class is held out in proportion 360 / 1797, to one image
        assert abs(test_counts[digit] - total * 360 / 1797) <= 1
        assert test_counts[digit] + Counter(train_labels.tolist())[digit] == total
    # the two parts are disjoint and together give the 1,797 images of scikit-learn
    everything = np.concatenate([train_imgs, test_imgs])[..., 0]
    raw = np.round(load_digits().images * (255.0 / 16.0)).astype(np.uint8)
    key = lambda a: sorted(x.tobytes() for x in a)  # noqa: E731
    assert key(everything) == key(raw)


def test_deterministic_and_seeded():
    a, la = images_and_labels(DigitsDataset(split='test', img_size=8, seed=0))
    b, lb = images_and_labels(DigitsDataset(split='test', img_size=8, seed=0))
    c, lc = images_and_labels(DigitsDataset(split='test', img_size=8, seed=1))
    assert np.array_equal(a, b) and np.array_equal(la, lb)
    assert not np.array_equal(a, c)
    assert Counter(la.tolist()) == Counter(lc.tolist())  # same stratified class counts


@pytest.mark.parametrize('test_fraction,seed', [(0.2, 0), (0.3, 7)])
def test_same_split_as_load_digits_split(test_fraction, seed):
    x_tr, y_tr, x_te, y_te = load_digits_split(test_fraction=test_fraction, seed=seed)
    levels = {}  # the dataset's 8x8 images back to scikit-learn's grey levels 0-16
    for split, y in (('train', y_tr), ('test', y_te)):
        dataset = DigitsDataset(split=split, img_size=8, test_fraction=test_fraction, seed=seed)
        imgs, labels = images_and_labels(dataset)
        assert np.array_equal(labels, y.numpy())
        levels[split] = np.round(imgs[..., 0] / (255.0 / 16.0))
    # load_digits_split standardises the [0, 1] levels with the train split's mean and std
    train01 = (levels['train'] / 16.0).astype(np.float32)
    mean, std = train01.mean(), train01.std()
    for split, x in (('train', x_tr), ('test', x_te)):
        recovered = np.round((x[:, 0].numpy() * std + mean) * 16.0)
        assert np.array_equal(recovered, levels[split])  # same images, same order


def test_upsampling_keeps_the_digit():
    small, labels = images_and_labels(DigitsDataset(split='test', img_size=8))
    large, labels32 = images_and_labels(DigitsDataset(split='test', img_size=32))
    assert large.shape == (360, 32, 32, 3) and np.array_equal(labels, labels32)
    pooled = large[..., 0].reshape(360, 8, 4, 8, 4).astype(np.float64).mean(axis=(2, 4))
    corr = np.corrcoef(pooled.ravel(), small[..., 0].astype(np.float64).ravel())[0, 1]
    assert corr > 0.95


def test_pipeline_packs_mmpretrain_inputs():
    dataset = DigitsDataset(split='test', img_size=16, pipeline=[dict(type='PackInputs')])
    sample = dataset[0]
    assert isinstance(sample['inputs'], torch.Tensor)
    assert tuple(sample['inputs'].shape) == (3, 16, 16)
    assert sample['data_samples'].gt_label.item() == dataset.get_data_info(0)['gt_label']


def test_built_from_an_mmpretrain_config():
    from mmpretrain.registry import DATASETS

    dataset = DATASETS.build(dict(type='DigitsDataset', split='test', img_size=8))
    assert isinstance(dataset, DigitsDataset) and len(dataset) == 360


@pytest.mark.parametrize(
    'kwargs,named',
    [
        (dict(split='val'), "'val'"),
        (dict(split='Train'), "'Train'"),
        (dict(img_size=7), '7'),
        (dict(img_size=16.0), '16.0'),
        (dict(img_size=True), 'True'),
        (dict(test_fraction=0.0), '0.0'),
        (dict(test_fraction=1), '1'),
        (dict(test_fraction=-0.2), '-0.2'),
        (dict(test_fraction='0.2'), "'0.2'"),
    ],
)
def test_bad_arguments_name_the_value(kwargs, named):
    with pytest.raises(ValueError, match='DigitsDataset') as error:
        DigitsDataset(**kwargs)
    assert named in str(error.value)
