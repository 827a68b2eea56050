# BHRNet-W32, AdaBin variant: the binary 3x3 convs use AdaBin's adaptive binary sets
# [official code of AdaBin] (per-channel {beta - alpha, beta + alpha} weights with EDE backward,
# t from 1e-3 to 10; learned per-layer activation sets) and Maxout after each addition.
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py'
]

custom_imports = dict(imports=['mmbinary'], allow_failed_imports=False)

adabin_conv = dict(
    type='BinaryConv2d',
    weight_binarizer=dict(type='AdaBinWeight'),
    input_binarizer=dict(type='AdaBinActivation'),
    weight_scale='none',
)

model = dict(
    backbone=dict(
        type='BHRNet',
        binary_conv_cfg=adabin_conv,
        act_cfg=dict(type='Maxout'),
        init_cfg=[
            dict(type='Normal', std=0.001, layer=['Conv2d']),
            dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm']),
        ],
    ),
)

custom_hooks = [
    dict(type='NonFiniteCheckHook'),  # stop at the first NaN / inf loss (mmbinary default)
    dict(type='SyncBuffersHook'),  # MMPose's default
    dict(type='BinarizerScheduleHook', param='t', start=1e-3, end=10, mode='log', types=['EDE']),
]
