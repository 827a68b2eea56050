# BBC-linear ResNet-18, ImageNet, with BBC's distillation from a real ResNet-34 (0.9 soft-target
# CE + 0.1 CE, T = 1; teacher checkpoint: see resnet18-bbc_kd-res34-8xb32-120e_in1k.py): the
# paper's recipe with the linear gradient estimator of resnet18-bbc-linear_8xb32-120e_in1k.py.
# Test the checkpoints with resnet18-bbc-linear_8xb32-120e_in1k.py.
_base_ = ['./resnet18-bbc_kd-res34-8xb32-120e_in1k.py']

model = dict(
    backbone=dict(conv_cfg=dict(weight_binarizer=dict(_delete_=True, type='LinearBinarizer')))
)
