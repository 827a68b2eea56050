# Tiny CPU variant of configs/adabin/resnet34-adabin_8xb32-120e_in1k.py: AdaBin blocks
# [3, 4, 6, 3]; everything else as resnet18-adabin_1xb128-12e_digits-32px.py but 24 epochs, as the
# other tiny ResNet-34s (the cosine schedule and EDE's t follow the epoch count).
_base_ = ['./resnet18-adabin_1xb128-12e_digits-32px.py']

model = dict(backbone=dict(depth=34))

train_cfg = dict(max_epochs=24, val_interval=24)
default_hooks = dict(checkpoint=dict(interval=24))
