# Overfit check on the 4 real COCO images of ../shared/data/coco_tiny: BHRNet-W32 (every residual
# 3x3 conv binary with its own real shortcut; STE weights scaled by mean |w|, ApproxSign
# activations), same data, schedule and evaluation as the SBPN-18 overfit config.
_base_ = ['./td-hm_sbpn-bireal18_1xb4-60e_coco-tiny-256x192.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='BHRNet',
        in_channels=3,
        extra=dict(
            stage1=dict(
                num_modules=1,
                num_branches=1,
                block='BOTTLENECK',
                num_blocks=(4,),
                num_channels=(64,),
            ),
            stage2=dict(
                num_modules=1,
                num_branches=2,
                block='BASIC',
                num_blocks=(4, 4),
                num_channels=(32, 64),
            ),
            stage3=dict(
                num_modules=4,
                num_branches=3,
                block='BASIC',
                num_blocks=(4, 4, 4),
                num_channels=(32, 64, 128),
            ),
            stage4=dict(
                num_modules=3,
                num_branches=4,
                block='BASIC',
                num_blocks=(4, 4, 4, 4),
                num_channels=(32, 64, 128, 256),
            ),
        ),
        binary_conv_cfg=dict(
            type='BinaryConv2d',
            weight_binarizer=dict(type='STE'),
            input_binarizer=dict(type='ApproxSign'),
            weight_scale='mean_abs',
        ),
    ),
    head=dict(
        _delete_=True,
        type='HeatmapHead',
        in_channels=32,
        out_channels=17,
        deconv_out_channels=None,
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder=dict(type='MSRAHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=2),
    ),
)
