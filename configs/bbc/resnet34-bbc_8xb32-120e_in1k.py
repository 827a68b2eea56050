# BBC ResNet-34 ([6, 8, 12, 6] Bi-Real blocks), ImageNet, without distillation: the student of
# resnet34-bbc_kd-res34-8xb32-120e_in1k.py (the paper's recipe; test its checkpoints with this
# config) and the plain-CE ablation. Everything else as resnet18-bbc_8xb32-120e_in1k.py.
_base_ = ['./resnet18-bbc_8xb32-120e_in1k.py']

model = dict(backbone=dict(depth=34))
