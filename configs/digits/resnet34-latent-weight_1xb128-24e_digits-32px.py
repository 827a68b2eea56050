# Tiny CPU variant of configs/latent_weight/resnet34-latent-weight_8xb32-120e_in1k.py: Bi-Real
# blocks [6, 8, 12, 6]; everything else as resnet18-latent-weight_1xb128-12e_digits-32px.py
# [reconstruction] but 24 epochs with the linear decay scaled to them (the deeper network needs
# more steps: 0.500 held-out accuracy after 12 epochs, 0.781 after 24).
_base_ = ['./resnet18-latent-weight_1xb128-12e_digits-32px.py']

model = dict(backbone=dict(depth=34))

# lr * (1 - e / 24) in epoch e = 0..23
param_scheduler = [dict(type='LinearLR', by_epoch=True, start_factor=1.0, end_factor=1 / 24)]
train_cfg = dict(max_epochs=24, val_interval=24)
default_hooks = dict(checkpoint=dict(interval=24))
