# The main job's SBPN with the BBC binarizers of the paper: the learned MLP gradient estimator
# (one MLP shared by the backbone, on the per-channel centred weights) in its own optimizer group,
# ApproxSign activations. Same data, schedule and head as the default main job.
_base_ = ['./td-hm_sbpn-bireal18-w32_1xb16-16e_synthetic-coco-128x96.py']

model = dict(
    backbone=dict(
        conv_cfg=dict(
            type='BinaryConv2d',
            weight_binarizer=dict(type='MLPBinarizer'),
            input_binarizer=dict(type='ApproxSign'),
            center_weight=True,
            weight_scale='mean_abs',
        )
    )
)
optim_wrapper = dict(
    constructor='BinaryOptimWrapperConstructor',
    paramwise_cfg=dict(binarizer_group=dict(lr=1e-3, weight_decay=0)),
)
