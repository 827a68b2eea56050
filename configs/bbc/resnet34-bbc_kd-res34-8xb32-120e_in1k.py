# BBC ResNet-34, ImageNet: the paper's recipe (65.7 % top-1, the paper's figure) = the ResNet-18
# recipe (resnet18-bbc_kd-res34-8xb32-120e_in1k.py: Adam, shared MLP group, 120 epochs, batch
# 256, distillation 0.9 / 0.1 from a real ResNet-34) with [6, 8, 12, 6] Bi-Real blocks
# [official code of BBC: birealnet34]. Teacher checkpoint: see the ResNet-18 config. Test the
# checkpoints with resnet34-bbc_8xb32-120e_in1k.py (they hold the student only).
_base_ = ['./resnet18-bbc_kd-res34-8xb32-120e_in1k.py']

model = dict(backbone=dict(depth=34))
