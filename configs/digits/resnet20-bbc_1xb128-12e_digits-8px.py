# Tiny CPU variant of configs/bbc/resnet20-bbc_1xb128-400e_cifar10.py on real images:
# scikit-learn's handwritten digits (DigitsDataset, no download; 1,437 train / 360 held-out,
# stratified, seed 0) at their native 8x8 resolution instead of CIFAR-10's 32x32.
# The recipe's model unchanged: BinaryResNetCifar-20 (real 3x3 stem of 16 channels, stages 16-32-64
# of 3 BasicBlocks, option-A shortcuts, each binary conv with its own shortcut, PReLU); average
# pooling -> FC; one BBC MLP shared by the network on centred weights, mean-|w| scale, ApproxSign
# activations; Adam 2.5e-3, wd 0, linear decay to 0; the MLP in its own param group (Adam 1e-3,
# x0.1 at the recipe's 233 / 300 / 333 / 367 of 400 epochs, scaled to 7 / 9 / 10 / 11 of 12),
# batch 128, plain CE.
# Tiny: 12 epochs of 12 iterations instead of 400, no augmentation (crops and flips do not suit
# 8x8 digits), inputs normalised with the digits' own mean / std.
_base_ = ['../bbc/resnet20-bbc_1xb128-400e_cifar10.py']

# Grey levels 0-16 scaled to 0-255 on 3 channels; mean / std of the 8x8 train split.
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
default_hooks = dict(logger=dict(interval=4), checkpoint=dict(interval=12))
randomness = dict(seed=0)
