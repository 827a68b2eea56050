# SBPN-18, AdaBin variant: AdaBin ResNet-18 backbone (BasicBlocks of two binary convs, each with
# its own shortcut, Maxout) with AdaBin's adaptive binary sets [official code of AdaBin]:
# per-channel {beta - alpha, beta + alpha} weights (EDE backward, t from 1e-3 to 10) and learned
# per-layer activation sets. Real SimpleBaseline head. MMPose's schedule.
_base_ = ['mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py']

custom_imports = dict(imports=['mmbinary'], allow_failed_imports=False)

adabin_conv = dict(
    type='BinaryConv2d',
    weight_binarizer=dict(type='AdaBinWeight'),
    input_binarizer=dict(type='AdaBinActivation'),
    weight_scale='none',
)

model = dict(
    backbone=dict(
        _delete_=True,
        type='BinaryResNet',
        depth=18,
        block_style='adabin',
        out_indices=(3,),
        conv_cfg=adabin_conv,
        init_cfg=None,  # from scratch; or dict(type='Pretrained', checkpoint='<your path>')
    ),
    head=dict(type='SBPNHead', in_channels=512),
)

custom_hooks = [
    dict(type='NonFiniteCheckHook'),  # stop at the first NaN / inf loss (mmbinary default)
    dict(type='SyncBuffersHook'),  # MMPose's default
    dict(type='BinarizerScheduleHook', param='t', start=1e-3, end=10, mode='log', types=['EDE']),
]
