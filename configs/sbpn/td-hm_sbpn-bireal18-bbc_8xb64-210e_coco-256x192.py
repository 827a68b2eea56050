# SBPN-18 (BBC): binary Bi-Real ResNet-18 backbone + real SimpleBaseline head, COCO 256x192.
# SBPN's design is not published: this is mmbinary's reconstruction (see configs/sbpn/README.md).
# Dataset, pipelines, codec (MSRA, sigma 2, 64x48 heatmaps), evaluation and schedule (Adam 5e-4,
# 210 epochs, x0.1 at 170 / 200, 500-iteration linear warm-up) are MMPose's SimpleBaseline ones.
_base_ = ['mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py']

custom_imports = dict(imports=['mmbinary'], allow_failed_imports=False)

# BBC binarizers [official code]: one MLP gradient estimator shared by every binary conv of the
# backbone, fed with the weights centred per output channel, scaled by the detached mean |w|;
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
        _delete_=True,
        type='BinaryResNet',
        depth=18,
        block_style='bireal',
        out_indices=(3,),
        conv_cfg=bbc_conv,
        init_cfg=None,  # from scratch; or dict(type='Pretrained', checkpoint='<your path>')
    ),
    head=dict(type='SBPNHead', in_channels=512),  # real deconvs: MMPose's HeatmapHead
)

# The shared MLP in its own param group (Adam 1e-3, BBC's MLP learning rate [official code]);
# MMPose's warm-up and steps scale both groups.
optim_wrapper = dict(
    constructor='BinaryOptimWrapperConstructor',
    paramwise_cfg=dict(binarizer_group=dict(lr=1e-3, weight_decay=0)),
)
custom_hooks = [
    dict(type='SyncBuffersHook'),  # MMPose's default
    dict(type='NonFiniteCheckHook'),  # stop at the first NaN / inf loss (mmbinary default)
]
