# Tiny CPU variant of configs/bbc/resnet20-bbc-linear_1xb128-400e_cifar10.py: the linear gradient
# estimator (LinearBinarizer, shared gains in the binarizer param group) in place of the MLP;
# everything else as resnet20-bbc_1xb128-12e_digits-8px.py.
_base_ = ['./resnet20-bbc_1xb128-12e_digits-8px.py']

model = dict(
    backbone=dict(conv_cfg=dict(weight_binarizer=dict(_delete_=True, type='LinearBinarizer')))
)
