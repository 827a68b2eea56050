# Tiny CPU variant of configs/adabin/resnet18-adabin-step2_kd-res34-8xb64-128e_in1k.py (AdaBin's
# two-step training, step 2): binary weights and activations (AdaBin's weight sets, EDE t from
# 1e-3 to 10 over the step), initialised from step 1's last checkpoint (the same parameters; the
# optimizer and schedule restart), weight decay 0, otherwise as step 1
# (resnet18-adabin-step1_kd-res34-1xb128-12e_digits-32px.py: same data, tiny widths, 12 epochs,
# distillation from the tiny real ResNet-34):
#   python tools/train.py configs/digits/resnet18-adabin-step1_kd-res34-1xb128-12e_digits-32px.py
#   python tools/train.py configs/digits/resnet18-adabin-step2_kd-res34-1xb128-12e_digits-32px.py
# (STEP1_CKPT=<path> or --cfg-options load_from=<path> for another step-1 checkpoint). The
# checkpoints hold the student only: test them with resnet18-adabin_1xb128-12e_digits-32px.py.
_base_ = ['../adabin/resnet18-adabin-step2_kd-res34-8xb64-128e_in1k.py']

model = dict(
    backbone=dict(stem_channels=16, base_channels=16),
    neck=[
        dict(type='GlobalAveragePooling'),
        dict(type='ClsBatchNormNeck', input_features=128, affine=True, eps=1e-5),
    ],
    head=dict(num_classes=10, in_channels=128, topk=(1,)),
    teacher_config='{{ fileDirname }}/resnet34_1xb128-10e_digits-32px.py',
    teacher_checkpoint='{{$TEACHER_CKPT:work_dirs/resnet34_1xb128-10e_digits-32px/epoch_10.pth}}',
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

# lr * (1 - e / 12) in epoch e = 0..11
param_scheduler = [dict(type='LinearLR', by_epoch=True, start_factor=1.0, end_factor=1 / 12)]
train_cfg = dict(max_epochs=12, val_interval=12)
auto_scale_lr = dict(base_batch_size=128)
default_hooks = dict(logger=dict(interval=4), checkpoint=dict(interval=12))
randomness = dict(seed=0)

load_from = (
    '{{$STEP1_CKPT:work_dirs/resnet18-adabin-step1_kd-res34-1xb128-12e_digits-32px/epoch_12.pth}}'
)
