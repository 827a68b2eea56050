# Drop-in binarization: MMPose's official SimpleBaseline-R50 config, unchanged except for the
# backbone's conv_cfg. Every conv that MMPose's ResNet builds through conv_cfg becomes a
# BinaryConv2d, except the stem (the backbone's first conv, which reads the image).
# The head (real deconvs, real final 1x1 conv) is built with explicit types and stays real.
# Train / test with MMPose's own tools or ours: python tools/train.py <this config>
_base_ = ['mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py']

custom_imports = dict(imports=['mmbinary'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        conv_cfg=dict(
            type='BinaryConv2dExceptStem',
            weight_binarizer=dict(type='STE'),
            input_binarizer=dict(type='ApproxSign'),
            weight_scale='mean_abs',
            keep_real_1x1=False,  # True also keeps the 1x1 convs (shortcuts, bottleneck) real
        ),
        # ResNet's own initialisation instead of the torchvision download; to start from FP32
        # ImageNet weights: dict(type='Pretrained', checkpoint='<your local resnet50 .pth>')
        init_cfg=[
            dict(type='Kaiming', layer=['Conv2d']),
            dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm']),
        ],
    )
)
custom_hooks = [
    dict(type='SyncBuffersHook'),  # MMPose's default
    dict(type='NonFiniteCheckHook'),  # stop at the first NaN / inf loss (mmbinary default)
]
