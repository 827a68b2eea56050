# Overfit check on 4 real COCO images (12 annotated people, ../shared/data/coco_tiny): SBPN-18
# (binary Bi-Real ResNet-18: STE weights scaled by mean |w|, ApproxSign activations; real head),
# trained and evaluated with CocoMetric on the same images with ground-truth boxes.
# Data root: $MMBINARY_COCO_TINY, by default ../shared/data/coco_tiny/ beside the clone (resolved
# from this file's folder, so the config works from any current directory).
_base_ = ['../sbpn/td-hm_sbpn-bireal18-bbc_8xb64-210e_coco-256x192.py']

data_root = '{{$MMBINARY_COCO_TINY:{{ fileDirname }}/../../../shared/data/coco_tiny/}}'
randomness = dict(seed=0)  # two runs give the same weights

model = dict(
    backbone=dict(
        conv_cfg=dict(
            _delete_=True,
            type='BinaryConv2d',
            weight_binarizer=dict(type='STE'),
            input_binarizer=dict(type='ApproxSign'),
            weight_scale='mean_abs',
        )
    ),
    test_cfg=dict(flip_test=False),
)
optim_wrapper = dict(
    _delete_=True, optimizer=dict(type='Adam', lr=2e-3, weight_decay=0)
)  # no learned binarizer here
param_scheduler = [dict(type='LinearLR', begin=0, end=15, start_factor=0.01, by_epoch=False)]
train_cfg = dict(max_epochs=60, val_interval=10)
auto_scale_lr = dict(enable=False)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=3),
    checkpoint=dict(type='CheckpointHook', interval=1000, save_best=None, save_last=True),
)
custom_hooks = [  # the AP curve starts with the untrained network's AP (epoch 0)
    dict(type='SyncBuffersHook'),  # average BN statistics over the ranks after every epoch
    dict(type='NonFiniteCheckHook'),  # stop at the first NaN / inf loss (mmbinary default)
    dict(type='KeypointCountCheckHook'),
    dict(type='ValidateBeforeTrainHook'),
    dict(type='FlipRatioHook'),  # sign flips per layer group (tools/analysis/plot_training.py)
]

codec = dict(type='MSRAHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=2)
pipeline = [  # no augmentation: the point is to fit these 12 people
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
dataset = dict(
    type='CocoDataset',
    data_root=data_root,
    data_mode='topdown',
    ann_file='test_coco.json',
    data_prefix=dict(img=''),
)
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(_delete_=True, pipeline=pipeline, **dataset),
)
val_dataloader = dict(
    batch_size=12,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(_delete_=True, pipeline=pipeline[:3] + pipeline[4:], test_mode=True, **dataset),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='CocoMetric', ann_file=data_root + 'test_coco.json')
test_evaluator = val_evaluator
