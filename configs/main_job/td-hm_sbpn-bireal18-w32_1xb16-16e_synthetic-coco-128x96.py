# The main job (`make run`): a binary SBPN trained on the synthetic COCO keypoint set on CPU.
# SBPN = binary Bi-Real ResNet-18 backbone (weights: sign with the straight-through estimator,
# scaled by the per-channel mean |w|; activations: ApproxSign) + real SimpleBaseline head.
# Sized for a 2-core CPU: stage widths 32-64-128-256 (1/2 of ResNet-18), 128x96 input, 32x24
# heatmaps decoded with DARK (unbiased) refinement, 128-channel head. The BBC variant is
# `sbpn-bireal18-bbc-w32` in this folder.
_base_ = ['mmpose::_base_/default_runtime.py']

custom_imports = dict(imports=['mmbinary'], allow_failed_imports=False)

data_root = 'data/synthetic_coco/'

train_cfg = dict(max_epochs=16, val_interval=16)

optim_wrapper = dict(optimizer=dict(type='Adam', lr=2e-3, weight_decay=0))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=50, start_factor=0.01, by_epoch=False),  # warm-up
    dict(type='CosineAnnealingLR', begin=0, T_max=16, eta_min=1e-5, by_epoch=True),
]

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=5, max_keep_ckpts=2),
)
custom_hooks = [
    dict(type='SyncBuffersHook'),  # average BN statistics over the ranks after every epoch
    dict(type='NonFiniteCheckHook'),  # stop at the first NaN / inf loss (mmbinary default)
    dict(type='KeypointCountCheckHook'),
    dict(type='FlipRatioHook'),
]

codec = dict(type='MSRAHeatmap', input_size=(96, 128), heatmap_size=(24, 32), sigma=1.5)

model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
    ),
    backbone=dict(
        type='BinaryResNet',
        depth=18,
        block_style='bireal',
        stem_channels=32,
        base_channels=32,
        out_indices=(3,),
        conv_cfg=dict(
            type='BinaryConv2d',
            weight_binarizer=dict(type='STE'),
            input_binarizer=dict(type='ApproxSign'),
            weight_scale='mean_abs',
        ),
    ),
    head=dict(
        type='HeatmapHead',
        in_channels=256,
        out_channels=17,
        deconv_out_channels=(128, 128, 128),
        deconv_kernel_sizes=(4, 4, 4),
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder=dict(codec, unbiased=True, blur_kernel_size=5),  # DARK decoding
    ),
    # the synthetic figures code left / right by colour: no flip test (and no flip augmentation)
    test_cfg=dict(flip_test=False),
)

dataset_type = 'CocoDataset'
data_mode = 'topdown'

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomBBoxTransform', rotate_factor=30),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs'),
]

train_dataloader = dict(
    batch_size=16,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='annotations/person_keypoints_train.json',
        data_prefix=dict(img='images/'),
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=32,
    num_workers=1,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='annotations/person_keypoints_val.json',
        data_prefix=dict(img='images/'),
        test_mode=True,
        pipeline=val_pipeline,
    ),
)
test_dataloader = val_dataloader

val_evaluator = dict(
    type='CocoMetric', ann_file=data_root + 'annotations/person_keypoints_val.json'
)
test_evaluator = val_evaluator
