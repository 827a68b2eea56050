# AdaBin ResNet-34 ([3, 4, 6, 3] BasicBlocks), ImageNet, one-step training (66.4 % top-1, the
# paper's figure) [official code of AdaBin: nets/resnet34.py, same main.py]: the ResNet-18 recipe
# otherwise (resnet18-adabin_8xb32-120e_in1k.py: SGD 0.1, cosine, 120 epochs, batch 256, EDE).
_base_ = ['./resnet18-adabin_8xb32-120e_in1k.py']

model = dict(backbone=dict(depth=34))
