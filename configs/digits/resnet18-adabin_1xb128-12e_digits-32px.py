# Tiny CPU variant of configs/adabin/resnet18-adabin_8xb32-120e_in1k.py on real images:
# scikit-learn's handwritten digits (DigitsDataset, no download; 1,437 train / 360 held-out,
# stratified, seed 0) upsampled to 32x32 (8x8 after the stem's stride 4).
# Same as the recipe: BinaryResNet-18 with AdaBin blocks [2, 2, 2, 2] (two binary convs, each with
# its own shortcut, Maxout after each addition), real stem and downsampling shortcuts; average
# pooling -> BatchNorm1d -> FC; AdaBinWeight (EDE backward, t from 1e-3 to 10, set every epoch)
# and AdaBinActivation (official-code form); SGD 0.1, momentum 0.9, wd 1e-5, cosine to 0, plain
# CE.
# Tiny: stem and stage widths 16-16-32-64-128 (instead of 64-...-512), 10 classes, 12 epochs of
# 12 iterations (batch 128), no augmentation.
_base_ = ['../adabin/resnet18-adabin_8xb32-120e_in1k.py']

model = dict(
    backbone=dict(stem_channels=16, base_channels=16),
    neck=[
        dict(type='GlobalAveragePooling'),
        dict(type='ClsBatchNormNeck', input_features=128, affine=True, eps=1e-5),
    ],
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

train_cfg = dict(max_epochs=12, val_interval=12)
auto_scale_lr = dict(base_batch_size=128)
default_hooks = dict(logger=dict(interval=4), checkpoint=dict(interval=12))
randomness = dict(seed=0)
