import mmengine
import numpy as np
import pytest

from mmbinary.datasets import generate_synthetic_coco
from mmbinary.datasets.synthetic_coco import KEYPOINT_NAMES, make_image


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp('syn')
    paths = generate_synthetic_coco(str(root), num_train=12, num_val=4, seed=3, progress=False)
    return root, paths


def test_coco_format_loads_with_xtcocotools(dataset):
    from xtcocotools.coco import COCO

    root, paths = dataset
    coco = COCO(paths['train'])
    assert len(coco.getImgIds()) == 12
    cat = coco.loadCats(1)[0]
    assert cat['keypoints'] == KEYPOINT_NAMES and len(cat['skeleton']) == 19
    for ann in coco.loadAnns(coco.getAnnIds()):
        kp = np.array(ann['keypoints']).reshape(17, 3)
        assert ann['num_keypoints'] == int((kp[:, 2] > 0).sum())
        assert (kp[kp[:, 2] == 0, :2] == 0).all()
        x, y, w, h = ann['bbox']
        labelled = kp[kp[:, 2] > 0]
        assert (labelled[:, 0] >= x - 1).all() and (labelled[:, 0] <= x + w + 1).all()
        assert (labelled[:, 1] >= y - 1).all() and (labelled[:, 1] <= y + h + 1).all()
        assert 0 < ann['area'] <= w * h
    val = mmengine.load(paths['val'])
    train_ids = {im['id'] for im in mmengine.load(paths['train'])['images']}
    assert not train_ids & {im['id'] for im in val['images']}  # held-out split
    assert (root / 'images' / val['images'][0]['file_name']).is_file()


def test_same_seed_same_data_other_seed_other_data():
    a_img, a_people = make_image(np.random.default_rng(7))
    b_img, b_people = make_image(np.random.default_rng(7))
    c_img, _ = make_image(np.random.default_rng(8))
    assert np.array_equal(a_img, b_img) and a_people == b_people
    assert not np.array_equal(a_img, c_img)


def test_occluded_keypoints_keep_labels_with_visibility_one():
    found = 0
    rng = np.random.default_rng(0)
    for _ in range(60):
        _, people = make_image(rng, occlusion_prob=1.0, max_people=1)
        kp = np.array(people[0]['keypoints']).reshape(17, 3)
        found += int((kp[:, 2] == 1).sum())
        assert set(np.unique(kp[:, 2])) <= {0, 1, 2}
    assert found > 0  # occluders do hide labelled keypoints


def test_left_and_right_are_mirrored_for_a_front_facing_figure():
    rng = np.random.default_rng(1)
    _, people = make_image(rng, max_people=1, occlusion_prob=0)
    kp = np.array(people[0]['keypoints']).reshape(17, 3)
    # facing the camera: the figure's left shoulder / hip are on the image's right
    assert kp[5, 0] > kp[6, 0] and kp[11, 0] > kp[12, 0]


def test_bad_sizes():
    with pytest.raises(ValueError, match='num_train and num_val must be > 0'):
        generate_synthetic_coco('/tmp/unused', num_train=0)
