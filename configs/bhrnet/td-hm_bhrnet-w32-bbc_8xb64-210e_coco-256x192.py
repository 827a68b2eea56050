# BHRNet-W32 (BBC): HRNet-W32 whose residual 3x3 convs are binary, each with its own real
# shortcut and PReLU (Bi-Real style); stem, transitions, fusion and the head's final 1x1 conv
# real. BHRNet's design is not published: this is mmbinary's reconstruction (README.md).
# Everything else (dataset, pipelines, MSRA codec, 64x48 heatmaps, head, schedule: Adam 5e-4,
# 210 epochs, x0.1 at 170 / 200, 500-iteration warm-up) is MMPose's HRNet-W32 config.
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py'
]

custom_imports = dict(imports=['mmbinary'], allow_failed_imports=False)

# BBC binarizers [official code]: shared MLP gradient estimator, centred weights, mean |w| scale,
# ApproxSign activations.
bbc_conv = dict(
    type='BinaryConv2d',
    weight_binarizer=dict(type='MLPBinarizer', init='official_code'),
    input_binarizer=dict(type='ApproxSign'),
    weight_scale='mean_abs',
    center_weight=True,
)

model = dict(
    backbone=dict(
        type='BHRNet',
        binary_conv_cfg=bbc_conv,
        act_cfg=dict(type='PReLU'),
        binary_parts=(),  # any of 'stem', 'transition', 'fusion', 'bottleneck_1x1'
        # HRNet's own initialisation (no ImageNet-pretrained binary HRNet exists); or
        # dict(type='Pretrained', checkpoint='<your path>')
        init_cfg=[
            dict(type='Normal', std=0.001, layer=['Conv2d']),
            dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm']),
        ],
    ),
)

# The shared MLP in its own param group (Adam 1e-3 [BBC's official code]).
optim_wrapper = dict(
    constructor='BinaryOptimWrapperConstructor',
    paramwise_cfg=dict(binarizer_group=dict(lr=1e-3, weight_decay=0)),
)
custom_hooks = [
    dict(type='SyncBuffersHook'),  # MMPose's default
    dict(type='NonFiniteCheckHook'),  # stop at the first NaN / inf loss (mmbinary default)
]
