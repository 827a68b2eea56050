# Tiny CPU variant of configs/bbc/resnet18-bbc-linear_8xb32-120e_in1k.py: the paper's "simple
# linear function" (LinearBinarizer: forward sign, backward g * (a0 + a1), one pair of gains
# shared by the network, trained in the binarizer param group) in place of the MLP; everything
# else as resnet18-bbc_1xb128-12e_digits-32px.py.
_base_ = ['./resnet18-bbc_1xb128-12e_digits-32px.py']

model = dict(
    backbone=dict(conv_cfg=dict(weight_binarizer=dict(_delete_=True, type='LinearBinarizer')))
)
