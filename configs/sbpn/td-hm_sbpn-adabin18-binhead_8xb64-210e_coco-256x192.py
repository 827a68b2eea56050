# SBPN-18, AdaBin variant, binary deconv head (Bi-Real shortcut + Maxout per stage; real final
# 1x1 conv).
_base_ = ['./td-hm_sbpn-adabin18_8xb64-210e_coco-256x192.py']

model = dict(
    head=dict(
        deconv_cfg=dict(
            type='BinaryConvTranspose2d',
            weight_binarizer=dict(type='AdaBinWeight'),
            input_binarizer=dict(type='AdaBinActivation'),
            weight_scale='none',
        ),
        act_cfg=dict(type='Maxout'),
    )
)
