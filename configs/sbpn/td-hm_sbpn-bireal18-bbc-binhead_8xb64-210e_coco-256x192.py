# SBPN-18 (BBC) with a binary head: the three 4x4 deconvs are binary (Bi-Real shortcut + PReLU
# each); the final 1x1 conv to 17 heatmaps stays real.
_base_ = ['./td-hm_sbpn-bireal18-bbc_8xb64-210e_coco-256x192.py']

model = dict(
    head=dict(
        deconv_cfg=dict(
            type='BinaryConvTranspose2d',
            weight_binarizer=dict(type='MLPBinarizer', init='official_code'),
            input_binarizer=dict(type='ApproxSign'),
            weight_scale='mean_abs',
            center_weight=True,
        ),
        act_cfg=dict(type='PReLU'),
    )
)
