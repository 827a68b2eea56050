# Real-valued teacher of the tiny ResNet-20 distillation variant: mmpretrain's CIFAR ResNet-18
# (mmpretrain::resnet/resnet18_8xb16_cifar10.py, the teacher of
# configs/bbc/resnet20-bbc_kd-res18-1xb128-400e_cifar10.py) at widths 16-16-32-64-128 on the 8x8
# digits (same data and normalisation as the students), SGD 0.1, momentum 0.9, wd 1e-4, cosine to
# 0 over 10 epochs, batch 128. Train it, then give its last checkpoint to
# resnet20-bbc_kd-res18-1xb128-12e_digits-8px.py: TEACHER_CKPT=<work_dir>/epoch_10.pth or
# --cfg-options model.teacher_checkpoint=<work_dir>/epoch_10.pth.
_base_ = ['mmpretrain::resnet/resnet18_8xb16_cifar10.py']

custom_imports = dict(imports=['mmbinary'], allow_failed_imports=False)  # DigitsDataset

model = dict(
    backbone=dict(stem_channels=16, base_channels=16),
    head=dict(num_classes=10, in_channels=128),
)

data_preprocessor = dict(num_classes=10, mean=[77.9] * 3, std=[95.9] * 3, to_rgb=False)
digits = dict(type='DigitsDataset', img_size=8, pipeline=[dict(type='PackInputs')])
train_dataloader = dict(
    batch_size=128,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(_delete_=True, split='train', **digits),
)
val_dataloader = dict(
    batch_size=180,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(_delete_=True, split='test', **digits),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1,))
test_evaluator = val_evaluator

param_scheduler = dict(_delete_=True, type='CosineAnnealingLR', by_epoch=True, eta_min=0)
train_cfg = dict(max_epochs=10, val_interval=10)
default_hooks = dict(logger=dict(interval=4), checkpoint=dict(interval=10))
randomness = dict(seed=0)
custom_hooks = [
    dict(type='SyncBuffersHook'),  # average BN statistics over the ranks after every epoch
    dict(type='NonFiniteCheckHook'),  # stop at the first NaN / inf loss (mmbinary default)
]
