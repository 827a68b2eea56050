# Latent-weight supervision, ResNet-34 ([6, 8, 12, 6] Bi-Real blocks), ImageNet (67.0 % top-1,
# the paper's figure) [reconstruction]: the ResNet-18 recipe otherwise
# (resnet18-latent-weight_8xb32-120e_in1k.py).
_base_ = ['./resnet18-latent-weight_8xb32-120e_in1k.py']

model = dict(backbone=dict(depth=34))
