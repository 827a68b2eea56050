# AdaBin ResNet-20, CIFAR-10 (88.1 % top-1, the paper's figure). Source of every value: AdaBin's
# official code (BinaryNetworks/AdaBin/cifar10: main.py, train.sh, nets/resnet20.py,
# utils/utils.py) unless tagged [reconstruction].
# Network: He et al.'s CIFAR ResNet-20: real 3x3 stem of 16 channels -> BN -> Maxout, stages
# 16-32-64 of 3 BasicBlocks of two binary convs, each with its own shortcut (option A: strided
# subsampling and zero padding of the new channels, no parameters) and a Maxout after each
# addition; head: average pooling -> BatchNorm1d -> FC. Binarizers as the ImageNet recipe
# (resnet18-adabin_8xb32-120e_in1k.py), EDE t from 1e-3 to 10 over the 400 epochs (`--progressive`
# in train.sh). Initialisation: kaiming_normal_ (fan_in, gain sqrt 2) on every conv and on the FC
# (the code leaves the FC bias at PyTorch's default; here it starts at 0), BN PyTorch's default.
# Optimisation: SGD 0.1, momentum 0.9, wd 1e-4, cosine to 0 over 400 epochs, batch 128 on one GPU
# (incomplete last batch dropped, as the code), plain CE.
# Data: random crop 32 with 4-pixel zero padding, horizontal flip; the code normalises with
# ImageNet's mean / std (not CIFAR's), kept here. The CIFAR-10 python batches in
# data/cifar10/cifar-10-batches-py, provided by the user (download=False).
_base_ = [
    'mmpretrain::_base_/datasets/cifar10_bs16.py',
    'mmpretrain::_base_/default_runtime.py',
]

custom_imports = dict(imports=['mmbinary'], allow_failed_imports=False)

# ImageNet's RGB mean / std on 0-255 values; mmpretrain's CIFAR10 images are already RGB
data_preprocessor = dict(
    num_classes=10, mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=False
)

adabin_conv = dict(
    type='BinaryConv2d',
    weight_binarizer=dict(type='AdaBinWeight'),
    input_binarizer=dict(type='AdaBinActivation', form='official_code'),
    weight_scale='none',
)
kaiming_fan_in = dict(type='Kaiming', mode='fan_in', nonlinearity='leaky_relu', a=0)

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='BinaryResNetCifar',
        depth=20,
        out_indices=(2,),
        conv_cfg=adabin_conv,
        act_cfg=dict(type='Maxout'),
        init_cfg=[
            dict(kaiming_fan_in, layer='Conv2d'),
            dict(type='Constant', val=1, layer='_BatchNorm'),
        ],
    ),
    neck=[
        dict(type='GlobalAveragePooling'),
        dict(type='ClsBatchNormNeck', input_features=64, affine=True, eps=1e-5),
    ],
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1,),
        init_cfg=dict(kaiming_fan_in, layer='Linear'),
    ),
)

train_dataloader = dict(
    batch_size=128,
    dataset=dict(data_root='data/cifar10', download=False),
    drop_last=True,
)
val_dataloader = dict(batch_size=128, dataset=dict(data_root='data/cifar10', download=False))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(type='CosineAnnealingLR', by_epoch=True, eta_min=0)

train_cfg = dict(by_epoch=True, max_epochs=400, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=128)

custom_hooks = [
    dict(type='SyncBuffersHook'),  # average BN statistics over the ranks after every epoch
    dict(type='NonFiniteCheckHook'),  # stop at the first NaN / inf loss (mmbinary default)
    dict(type='BinarizerScheduleHook', param='t', start=1e-3, end=10, mode='log', types=['EDE']),
]
