# SBPN-18 (BBC) with a binary head of x2 upsampling + binary 3x3 conv per stage (instead of
# binary deconvs); Bi-Real shortcut + PReLU per stage, real final 1x1 conv.
_base_ = ['./td-hm_sbpn-bireal18-bbc_8xb64-210e_coco-256x192.py']

model = dict(
    head=dict(
        upsample_mode='upsample_conv',
        deconv_kernel_sizes=(3, 3, 3),
        conv_cfg={{_base_.bbc_conv}},
        act_cfg=dict(type='PReLU'),
    )
)
