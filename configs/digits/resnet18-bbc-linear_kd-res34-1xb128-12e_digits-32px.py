# Tiny CPU variant of configs/bbc/resnet18-bbc-linear_kd-res34-8xb32-120e_in1k.py: BBC-linear
# ResNet-18 with BBC's distillation (0.9 / 0.1) from the tiny real ResNet-34 (teacher checkpoint:
# see resnet18-bbc_kd-res34-1xb128-12e_digits-32px.py). Test the checkpoints with
# resnet18-bbc-linear_1xb128-12e_digits-32px.py.
_base_ = ['./resnet18-bbc_kd-res34-1xb128-12e_digits-32px.py']

model = dict(
    backbone=dict(conv_cfg=dict(weight_binarizer=dict(_delete_=True, type='LinearBinarizer')))
)
