# Tiny CPU variant of configs/bbc/resnet18-bbc_8xb32-120e_in1k.py on real images: scikit-learn's
# handwritten digits (DigitsDataset, no download; 1,437 train / 360 held-out, stratified, seed 0)
# upsampled to 32x32 (8x8 after the stem's stride 4).
# Same as the recipe: BinaryResNet-18 with Bi-Real blocks [4, 4, 4, 4] and PReLU, real stem,
# downsampling shortcuts and FC; one BBC MLP gradient estimator shared by every binary conv, on
# weights centred per output channel, mean-|w| scale; ApproxSign activations; Adam 2.5e-3, wd 0,
# linear decay to 0; the MLP in its own param group (Adam 1e-3, x0.1 at BBC's epochs 70 / 90 /
# 100 / 110 of 120, scaled to 7 / 9 / 10 / 11 of 12); plain CE (the paper's distillation is
# resnet18-bbc_kd-res34-1xb128-12e_digits-32px.py).
# Tiny: stem and stage widths 16-16-32-64-128 (instead of 64-...-512), 10 classes, 12 epochs of
# 12 iterations (batch 128), no augmentation (crops, lighting and flips do not suit the digits).
_base_ = ['../bbc/resnet18-bbc_8xb32-120e_in1k.py']

model = dict(
    backbone=dict(stem_channels=16, base_channels=16),
    head=dict(num_classes=10, in_channels=128, topk=(1,)),
)

# Grey levels 0-16 scaled to 0-255 on 3 channels; mean / std of the 32x32 train split.
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

param_scheduler = [
    # lr * (1 - e / 12) in epoch e = 0..11
    dict(
        type='ParamGroupScheduler',
        exclude_groups=['binarizer'],
        by_epoch=True,
        scheduler=dict(type='LinearLR', start_factor=1.0, end_factor=1 / 12),
    ),
    dict(
        type='ParamGroupScheduler',
        groups=['binarizer'],
        by_epoch=True,
        scheduler=dict(type='MultiStepLR', milestones=[7, 9, 10, 11], gamma=0.1),
    ),
]
train_cfg = dict(max_epochs=12, val_interval=12)
auto_scale_lr = dict(base_batch_size=128)
default_hooks = dict(logger=dict(interval=4), checkpoint=dict(interval=12))
randomness = dict(seed=0)
