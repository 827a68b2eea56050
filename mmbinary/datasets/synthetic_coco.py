"""A synthetic COCO-format person-keypoint dataset that needs no download.

Each image holds one to ``max_people`` articulated figures drawn with the 17 COCO keypoints:
a head (nose, eyes, ears on a disc), a torso quad, two-segment arms and legs. Poses (torso lean,
shoulder / elbow / hip / knee angles), sizes, positions, backgrounds (gradients, noise, clutter
shapes) vary; an occluding rectangle sometimes hides part of a figure, and the keypoints under
it keep their label with visibility 1 (labelled, not visible) instead of 2. Keypoints outside
the image get visibility 0. The figure's left limbs are drawn in warm colours and its right limbs
in cool ones (figures face the camera), so left and right are distinguishable: do not use
horizontal-flip augmentation on this data.

Writes ``images/{train,val}/*.png`` and ``annotations/person_keypoints_{train,val}.json`` in
COCO format (``bbox``, ``area`` = drawn figure pixels, ``num_keypoints``, ``iscrowd``, the
``person`` category with COCO's keypoint names and skeleton), deterministic for a seed.
"""

import json
import math
import os
import os.path as osp
import time

import cv2
import numpy as np

KEYPOINT_NAMES = [
    'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder',
    'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist', 'left_hip',
    'right_hip', 'left_knee', 'right_knee', 'left_ankle', 'right_ankle',
]  # fmt: skip
SKELETON = [
    [16, 14],
    [14, 12],
    [17, 15],
    [15, 13],
    [12, 13],
    [6, 12],
    [7, 13],
    [6, 7],
    [6, 8],
    [7, 9],
    [8, 10],
    [9, 11],
    [2, 3],
    [1, 2],
    [1, 3],
    [2, 4],
    [3, 5],
    [4, 6],
    [5, 7],
]  # fmt: skip  (COCO's, 1-based)
LIMBS = {  # (from, to, side): side 0 = centre, 1 = left (warm), 2 = right (cool)
    'left_upper_arm': (5, 7, 1), 'left_forearm': (7, 9, 1), 'right_upper_arm': (6, 8, 2),
    'right_forearm': (8, 10, 2), 'left_thigh': (11, 13, 1), 'left_shin': (13, 15, 1),
    'right_thigh': (12, 14, 2), 'right_shin': (14, 16, 2),
}  # fmt: skip


def _rotate(v, angle):
    c, s = math.cos(angle), math.sin(angle)
    return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1]])


def sample_pose(rng, height, hip_centre):
    """The 17 keypoints (x, y) of a front-facing figure of ``height`` pixels."""
    lean = rng.uniform(-0.3, 0.3)
    up = np.array([math.sin(lean), -math.cos(lean)])
    right = np.array([math.cos(lean), math.sin(lean)])  # image right = the figure's left
    h = height
    hip = np.asarray(hip_centre, dtype=float)
    neck = hip + up * 0.30 * h
    head = neck + up * 0.11 * h + right * rng.uniform(-0.03, 0.03) * h
    kp = np.zeros((17, 2))
    kp[0] = head - up * 0.01 * h
    kp[1], kp[2] = (
        head + up * 0.025 * h + right * 0.03 * h,
        head + up * 0.025 * h - right * 0.03 * h,
    )
    kp[3], kp[4] = head + right * 0.06 * h, head - right * 0.06 * h
    kp[5], kp[6] = neck + right * 0.12 * h, neck - right * 0.12 * h
    kp[11], kp[12] = hip + right * 0.085 * h, hip - right * 0.085 * h
    down = -up
    for side, (shoulder, elbow, wrist) in ((1, (5, 7, 9)), (-1, (6, 8, 10))):
        upper = _rotate(down, -side * rng.uniform(0.05, 2.6)) * 0.17 * h
        kp[elbow] = kp[shoulder] + upper
        fore = _rotate(upper / np.linalg.norm(upper), -side * rng.uniform(-0.3, 2.0)) * 0.15 * h
        kp[wrist] = kp[elbow] + fore
    for side, (hip_i, knee, ankle) in ((1, (11, 13, 15)), (-1, (12, 14, 16))):
        thigh = _rotate(down, -side * rng.uniform(-0.2, 0.7)) * 0.24 * h
        kp[knee] = kp[hip_i] + thigh
        shin = _rotate(thigh / np.linalg.norm(thigh), side * rng.uniform(0.0, 1.6)) * 0.23 * h
        kp[ankle] = kp[knee] + shin
    return kp


def _background(rng, size):
    h, w = size
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    t = np.linspace(0, 1, w if rng.random() < 0.5 else h)
    grad = c0[None] * (1 - t[:, None]) + c1[None] * t[:, None]
    img = np.broadcast_to(grad[None], (h, w, 3)) if len(t) == w else grad[:, None].repeat(w, 1)
    img = np.ascontiguousarray(img, dtype=np.float32)
    img += rng.normal(0, rng.uniform(2, 15), img.shape)
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(rng.integers(0, 6)):  # clutter
        colour = tuple(int(c) for c in rng.uniform(0, 255, 3))
        if rng.random() < 0.5:
            p = rng.uniform(0, 1, 2) * (w, h)
            cv2.circle(img, tuple(int(v) for v in p), int(rng.uniform(5, w / 6)), colour, -1)
        else:
            p, q = rng.uniform(0, 1, 2) * (w, h), rng.uniform(0, 1, 2) * (w, h)
            cv2.rectangle(img, tuple(int(v) for v in p), tuple(int(v) for v in q), colour, -1)
    return img


def _side_colour(rng, side):
    if side == 1:  # warm
        return (int(rng.uniform(0, 60)), int(rng.uniform(60, 160)), int(rng.uniform(200, 255)))
    if side == 2:  # cool
        return (int(rng.uniform(200, 255)), int(rng.uniform(100, 200)), int(rng.uniform(0, 60)))
    return tuple(int(c) for c in rng.uniform(80, 200, 3))


def draw_figure(img, mask, kp, height, rng):
    """Draw one figure on ``img`` (BGR) and its pixels on ``mask``."""
    thick = max(2, int(0.09 * height))  # limbs as thick as a person's (area ~ half the box)
    pts = lambda idx: np.round(kp[idx]).astype(np.int32)  # noqa: E731
    torso_colour = _side_colour(rng, 0)
    for target, value in ((img, None), (mask, 255)):
        torso = pts([5, 6, 12, 11])
        cv2.fillConvexPoly(target, torso, value or torso_colour)
        for a, b, side in LIMBS.values():
            colour = value or _side_colour(np.random.default_rng(side), side)
            cv2.line(target, tuple(pts(a)), tuple(pts(b)), colour, thick, cv2.LINE_AA)
        head = np.round((kp[3] + kp[4]) / 2).astype(np.int32)
        cv2.circle(target, tuple(head), max(3, int(0.08 * height)), value or torso_colour, -1)
    for i, colour in ((0, (40, 40, 40)), (1, (0, 0, 255)), (2, (255, 0, 0))):  # nose, eyes
        cv2.circle(img, tuple(pts(i)), max(2, int(0.02 * height)), colour, -1)
    for i, side in ((3, 1), (4, 2)):  # ears
        cv2.circle(img, tuple(pts(i)), max(2, int(0.025 * height)), _side_colour(rng, side), -1)


def make_image(rng, size=(192, 192), max_people=2, occlusion_prob=0.3):
    """One image and its annotations (list of dicts with keypoints, bbox, area)."""
    h, w = size
    img = _background(rng, size)
    people = []
    for _ in range(rng.integers(1, max_people + 1)):
        height = rng.uniform(0.45, 0.9) * h
        hip = (rng.uniform(0.2, 0.8) * w, rng.uniform(0.45, 0.65) * h)
        kp = sample_pose(rng, height, hip)
        mask = np.zeros(size, np.uint8)
        draw_figure(img, mask, kp, height, rng)
        visibility = np.full(17, 2)
        if rng.random() < occlusion_prob:
            x0, y0 = rng.uniform(0, w * 0.8), rng.uniform(0, h * 0.8)
            x1, y1 = x0 + rng.uniform(0.15, 0.4) * w, y0 + rng.uniform(0.15, 0.4) * h
            colour = tuple(int(c) for c in rng.uniform(0, 255, 3))
            cv2.rectangle(img, (int(x0), int(y0)), (int(x1), int(y1)), colour, -1)
            hidden = (kp[:, 0] >= x0) & (kp[:, 0] <= x1) & (kp[:, 1] >= y0) & (kp[:, 1] <= y1)
            visibility[hidden] = 1
            for p in people:  # an occluder in front of an earlier figure hides it too
                earlier = np.array(p['keypoints']).reshape(17, 3)
                inside = (earlier[:, 0] >= x0) & (earlier[:, 0] <= x1)
                inside &= (earlier[:, 1] >= y0) & (earlier[:, 1] <= y1) & (earlier[:, 2] == 2)
                earlier[inside, 2] = 1
                p['keypoints'] = earlier.reshape(-1).tolist()
        outside = (kp[:, 0] < 0) | (kp[:, 0] >= w) | (kp[:, 1] < 0) | (kp[:, 1] >= h)
        visibility[outside] = 0
        ys, xs = np.nonzero(mask)
        x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
        keypoints = np.concatenate([kp, visibility[:, None]], 1)
        keypoints[visibility == 0, :2] = 0
        people.append(
            dict(
                keypoints=[round(float(v), 2) for v in keypoints.reshape(-1)],
                num_keypoints=int((visibility > 0).sum()),
                bbox=[float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                area=float(len(xs)),
                iscrowd=0,
                category_id=1,
            )
        )
    return img, people


def generate_synthetic_coco(
    out_dir, num_train=800, num_val=200, size=(192, 192), max_people=2, seed=0, progress=True
):
    """Write the dataset into ``out_dir``; return the paths of the two annotation files."""
    if num_train <= 0 or num_val <= 0:
        raise ValueError(f'num_train and num_val must be > 0, got {num_train}, {num_val}')
    rng = np.random.default_rng(seed)
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
    category = dict(
        id=1, name='person', supercategory='person', keypoints=KEYPOINT_NAMES, skeleton=SKELETON
    )
    paths, ann_id, start = {}, 1, time.time()
    for split, count in (('train', num_train), ('val', num_val)):
        os.makedirs(osp.join(out_dir, 'images', split), exist_ok=True)
        images, annotations = [], []
        for i in range(count):
            img, people = make_image(rng, size, max_people)
            image_id = len(images) + 1 + (0 if split == 'train' else 10**6)
            file_name = f'{split}/{image_id:07d}.png'
            cv2.imwrite(osp.join(out_dir, 'images', file_name), img)
            images.append(dict(id=image_id, file_name=file_name, height=size[0], width=size[1]))
            for person in people:
                annotations.append(dict(person, id=ann_id, image_id=image_id))
                ann_id += 1
            if progress and ((i + 1) % 100 == 0 or i + 1 == count):
                print(f'[synthetic coco] {split}: {i + 1}/{count} images '
                      f'({time.time() - start:.1f} s)', flush=True)  # fmt: skip
        path = osp.join(out_dir, 'annotations', f'person_keypoints_{split}.json')
        tmp = path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(dict(images=images, annotations=annotations, categories=[category]), f)
        os.replace(tmp, path)  # a complete file or none: an interrupted run regenerates
        paths[split] = path
    return paths
