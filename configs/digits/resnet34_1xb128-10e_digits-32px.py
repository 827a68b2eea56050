# Real-valued teacher of the tiny ResNet-18 / 34 distillation variants: mmpretrain's ResNet-34
# (mmpretrain::resnet/resnet34_8xb32_in1k.py, the teacher of configs/bbc/*_kd-res34*) at widths
# 8-8-16-32-64 on the 32x32 digits (same data and normalisation as the students), SGD 0.1,
# momentum 0.9, wd 1e-4, cosine to 0 over 10 epochs, batch 128. Train it, then give its last
# checkpoint to a `_kd-res34` tiny variant: TEACHER_CKPT=<work_dir>/epoch_10.pth or
# --cfg-options model.teacher_checkpoint=<work_dir>/epoch_10.pth.
_base_ = ['mmpretrain::resnet/resnet34_8xb32_in1k.py']

custom_imports = dict(imports=['mmbinary'], allow_failed_imports=False)  # DigitsDataset

model = dict(
    backbone=dict(stem_channels=8, base_channels=8),
    head=dict(num_classes=10, in_channels=64, topk=(1,)),
)

data_preprocessor = dict(num_classes=10, mean=[77.8] * 3, std=[82.4] * 3, to_rgb=False)
digits = dict(type='DigitsDataset', img_size=32, pipeline=[dict(type='PackInputs')])
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
auto_scale_lr = dict(base_batch_size=128)
default_hooks = dict(logger=dict(interval=4), checkpoint=dict(interval=10))
randomness = dict(seed=0)
custom_hooks = [
    dict(type='SyncBuffersHook'),  # average BN statistics over the ranks after every epoch
    dict(type='NonFiniteCheckHook'),  # stop at the first NaN / inf loss (mmbinary default)
]
