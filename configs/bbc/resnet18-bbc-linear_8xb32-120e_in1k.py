# BBC-linear ResNet-18, ImageNet, without distillation (the student of the `_kd-res34` config):
# the paper's "simple linear function" as the weights' gradient estimator. LinearBinarizer
# [official code of BBC (MetaConv_v3 with one linear layer), derived]: forward sign(w_c),
# backward g * (a0 + a1), one pair of gains shared by the network (init 0.5 each = STE)
# [reconstruction: the initial gains], trained in the binarizer param group with the MLP's
# settings (Adam 1e-3, x0.1 at 70 / 90 / 100 / 110) [reconstruction: the code leaves this variant
# unused]. Everything else as resnet18-bbc_8xb32-120e_in1k.py.
_base_ = ['./resnet18-bbc_8xb32-120e_in1k.py']

model = dict(
    backbone=dict(conv_cfg=dict(weight_binarizer=dict(_delete_=True, type='LinearBinarizer')))
)
