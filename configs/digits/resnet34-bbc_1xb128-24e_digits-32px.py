# Tiny CPU variant of configs/bbc/resnet34-bbc_8xb32-120e_in1k.py: Bi-Real blocks [6, 8, 12, 6];
# everything else as resnet18-bbc_1xb128-12e_digits-32px.py but 24 epochs (the deeper network
# needs more steps: 0.525 held-out accuracy after 12 epochs, 0.875 after 24), with the schedules
# scaled to them: linear decay to 0 over 24 epochs, the MLP's x0.1 at 14 / 18 / 20 / 22.
_base_ = ['./resnet18-bbc_1xb128-12e_digits-32px.py']

model = dict(backbone=dict(depth=34))

param_scheduler = [
    # lr * (1 - e / 24) in epoch e = 0..23
    dict(
        type='ParamGroupScheduler',
        exclude_groups=['binarizer'],
        by_epoch=True,
        scheduler=dict(type='LinearLR', start_factor=1.0, end_factor=1 / 24),
    ),
    dict(
        type='ParamGroupScheduler',
        groups=['binarizer'],
        by_epoch=True,
        scheduler=dict(type='MultiStepLR', milestones=[14, 18, 20, 22], gamma=0.1),
    ),
]
train_cfg = dict(max_epochs=24, val_interval=24)
default_hooks = dict(checkpoint=dict(interval=24))
