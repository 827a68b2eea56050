# AdaBin ResNet-18, ImageNet, one-step training (63.1 % top-1, the paper's figure). Source of
# every value: AdaBin's official code (github.com/huawei-noah/Efficient-Computing,
# BinaryNetworks/AdaBin/imagenet: main.py, train.sh, nets/resnet18.py, utils/binarylib.py).
#
# Network: BasicBlocks of two binary 3x3 convs, each with its own real shortcut and a Maxout
# (gamma+ ReLU(x) - gamma- ReLU(-x), init 1 / 0.25) after each addition, [2, 2, 2, 2]; real 7x7
# stem -> BN -> Maxout -> max-pool, real AvgPool -> 1x1 conv -> BN downsampling shortcuts; head:
# average pooling -> BatchNorm1d -> real FC. Adaptive binary sets: weights per output channel
# {beta - alpha, beta + alpha} (beta = mean, alpha = std, EDE backward with t from 1e-3 to 10
# set before every epoch, k = max(1 / t, 1)); activations per layer with learned alpha (init 1)
# and beta (init 0), ApproxSign backward, the code's alpha * (s + beta) form. Initialisation as
# the code: every conv (binary or not) N(0, 2 / (k * k * C_out)), BN and FC PyTorch's default.
# Optimisation: SGD 0.1, momentum 0.9, wd 1e-5 on every parameter, cosine to 0 over 120 epochs
# (stepped after each epoch, as the code), batch 256 (8 GPUs x 32), plain CE.
# Data: RandomResizedCrop(224, scale 0.08-1) and flip; validation resize 256 -> centre crop 224
# (torchvision's PIL resizing: mmpretrain's imagenet_bs32_pil_resize). ImageNet-1k in
# data/imagenet (mmpretrain layout), provided by the user.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py',
    'mmpretrain::_base_/default_runtime.py',
]

custom_imports = dict(imports=['mmbinary'], allow_failed_imports=False)

adabin_conv = dict(
    type='BinaryConv2d',
    weight_binarizer=dict(type='AdaBinWeight'),
    input_binarizer=dict(type='AdaBinActivation', form='official_code'),
    weight_scale='none',
)

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='BinaryResNet',
        depth=18,
        block_style='adabin',
        out_indices=(3,),
        conv_cfg=adabin_conv,
        act_cfg=dict(type='Maxout'),
        init_cfg=[
            dict(type='Kaiming', layer='Conv2d', mode='fan_out', nonlinearity='relu'),
            dict(type='Constant', val=1, layer='_BatchNorm'),
        ],
    ),
    # average pooling -> BatchNorm1d (mmpretrain's ClsBatchNormNeck, affine with nn's default eps)
    neck=[
        dict(type='GlobalAveragePooling'),
        dict(type='ClsBatchNormNeck', input_features=512, affine=True, eps=1e-5),
    ],
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=512,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
        init_cfg=None,  # PyTorch's default nn.Linear initialisation, as the code
    ),
)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.08, 1.0), backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=32, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=32)
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-5))
param_scheduler = dict(type='CosineAnnealingLR', by_epoch=True, eta_min=0)

train_cfg = dict(by_epoch=True, max_epochs=120, val_interval=1)
val_cfg = dict()
test_cfg = dict()
# 8 GPUs x 32 images; `--auto-scale-lr` rescales the lr for another total batch
auto_scale_lr = dict(base_batch_size=256)

# EDE: t = 10 ** (log10(1e-3) + (log10(10) - log10(1e-3)) * epoch / epochs), k = max(1 / t, 1),
# set before every epoch (AdaBinWeight's sign is an EDE module)
custom_hooks = [
    dict(type='SyncBuffersHook'),  # average BN statistics over the ranks after every epoch
    dict(type='NonFiniteCheckHook'),  # stop at the first NaN / inf loss (mmbinary default)
    dict(type='BinarizerScheduleHook', param='t', start=1e-3, end=10, mode='log', types=['EDE']),
]
