# BBC ResNet-18 (Bi-Real blocks), ImageNet, trained without distillation: the student of the
# paper's recipe resnet18-bbc_kd-res34-8xb32-120e_in1k.py (test its checkpoints with this config:
# they hold the student only) and the plain-CE ablation. Source of every value: the official code
# of BBC (github.com/ThisisBillhe/Binarizing-by-Classification, trainimagenet.py and
# Models/birealnetimagenet.py) unless tagged [reconstruction].
#
# Network: Bi-Real ResNet-18, [4, 4, 4, 4] blocks of sign -> binary 3x3 conv -> BN -> + own real
# shortcut -> PReLU; real 7x7 stem (conv -> BN -> PReLU -> max-pool), real AvgPool(2) -> 1x1
# conv -> BN downsampling shortcuts, average pooling -> real FC. One MLP gradient estimator
# (1 -> 100 -> tanh -> 2, no bias) shared by every binary conv, fed with the weights centred per
# output channel; scale mean |w_c| per output channel, detached; ApproxSign activations.
# Initialisation as the code: binary conv weights Xavier-uniform, every other layer PyTorch's
# default (stem and 1x1 convs, FC, BN, PReLU), the MLP's included: the code sets none, so its
# two nn.Linear layers start U(-1, 1) and U(-0.1, 0.1) (init='official_code').
# Optimisation: Adam 2.5e-3, wd 0, lr * (1 - e / 120) in epoch e; the shared MLP in its own param
# group: Adam 1e-3, wd 0, x0.1 at epochs 70 / 90 / 100 / 110; 120 epochs, batch 256 (8 GPUs x 32).
# The official script steps both schedules at the *start* of each epoch, so there epoch e runs at
# 2.5e-3 * (1 - (e + 1) / 120) and the MLP decays one epoch earlier; mmengine steps after each
# epoch and this config follows the stated schedule (see README.md).
# Data: ImageNet-1k in data/imagenet (mmpretrain layout), provided by the user; PIL resizing as
# torchvision's (mmpretrain's imagenet_bs32_pil_resize).
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py',
    'mmpretrain::_base_/default_runtime.py',
]

custom_imports = dict(imports=['mmbinary'], allow_failed_imports=False)

bbc_conv = dict(
    type='BinaryConv2d',
    weight_binarizer=dict(
        type='MLPBinarizer', hidden_channels=100, init='official_code', shared=True
    ),
    input_binarizer=dict(type='ApproxSign'),
    weight_scale='mean_abs',
    center_weight=True,
)

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='BinaryResNet',
        depth=18,
        block_style='bireal',
        out_indices=(3,),
        conv_cfg=bbc_conv,
        act_cfg=dict(type='PReLU'),
        init_cfg=[dict(type='Xavier', layer='BinaryConv2d', distribution='uniform')],
    ),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=512,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
        init_cfg=None,  # PyTorch's default nn.Linear initialisation, as the code
    ),
)

# Augmentation: RandomResizedCrop(224, scale 0.08-1), lighting 0.1, horizontal flip; validation:
# resize the short side to 256, centre crop 224 (mmpretrain's test pipeline). The code's Lighting
# (ReActNet's / MetaPruning's, imported by BBC's trainimagenet.py) adds
# eigvec @ (N(0, 0.1) * eigval) with the eigenvalues of [0, 1] pixels (0.2175, 0.0188, 0.0045) to
# the *uint8* 0-255 image and truncates back to uint8: a shift of a few hundredths of a grey level,
# i.e. each channel lowered by one level or unchanged. mmpretrain's Lighting with the same numbers
# on its uint8 0-255 image does exactly that (rows of eigvec in BGR order: the image is BGR until
# the data preprocessor). The textbook AlexNet strength would be eigval x 255; it is not what the
# published models were trained with (and mmpretrain's Lighting does not clip, so saturated pixels
# would wrap around).
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=224,
        crop_ratio_range=(0.08, 1.0),
        aspect_ratio_range=(3.0 / 4.0, 4.0 / 3.0),
        backend='pillow',
    ),
    dict(
        type='Lighting',
        eigval=[0.2175, 0.0188, 0.0045],
        eigvec=[
            [-0.5836, -0.6948, 0.4203],
            [-0.5808, -0.0045, -0.8140],
            [-0.5675, 0.7192, 0.4009],
        ],
        alphastd=0.1,
        to_rgb=False,
    ),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=32, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=32)
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(type='Adam', lr=2.5e-3, weight_decay=0),
    constructor='BinaryOptimWrapperConstructor',
    paramwise_cfg=dict(binarizer_group=dict(lr=1e-3, weight_decay=0)),
)
param_scheduler = [
    # the network: lr * (1 - e / 120) in epoch e = 0..119 (mmengine's LinearLR reaches end_factor
    # in the last epoch), BBC's linear decay to 0
    dict(
        type='ParamGroupScheduler',
        exclude_groups=['binarizer'],
        by_epoch=True,
        scheduler=dict(type='LinearLR', start_factor=1.0, end_factor=1 / 120),
    ),
    # the shared MLP
    dict(
        type='ParamGroupScheduler',
        groups=['binarizer'],
        by_epoch=True,
        scheduler=dict(type='MultiStepLR', milestones=[70, 90, 100, 110], gamma=0.1),
    ),
]

train_cfg = dict(by_epoch=True, max_epochs=120, val_interval=1)
val_cfg = dict()
test_cfg = dict()
# 8 GPUs x 32 images; `--auto-scale-lr` rescales the lr for another total batch
auto_scale_lr = dict(base_batch_size=256)
custom_hooks = [
    dict(type='SyncBuffersHook'),  # average BN statistics over the ranks after every epoch
    dict(type='NonFiniteCheckHook'),  # stop at the first NaN / inf loss (mmbinary default)
]
