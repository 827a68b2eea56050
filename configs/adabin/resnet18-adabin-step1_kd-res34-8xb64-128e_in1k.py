# AdaBin ResNet-18, two-step training "as ReActNet" (66.4 % top-1 after step 2, the paper's
# figure), step 1: AdaBin's learned binary activation sets, real weights. Step 2
# (resnet18-adabin-step2_kd-res34-8xb64-128e_in1k.py) binarizes the weights too and starts from
# this step's last checkpoint.
# AdaBin's code and README say only that the starred model uses "the two-step training setting as
# ReActNet"; the setting below is ReActNet's released ResNet-18 setting (github.com/liuzechun/
# ReActNet, resnet/1_step1 and 2_step2: train.py, run.sh, utils/KD_loss.py) [reconstruction: that
# AdaBin used exactly these values is our reading]:
# - distillation from a real ResNet-34 with ReActNet's distribution loss only: soft-target CE
#   against the teacher's softmax, no label term (soft 1.0 / hard 0.0, T = 1). Teacher:
#   mmpretrain's ResNet-34 (ReActNet uses torchvision's; see README.md for both);
# - Adam 2.5e-3, lr * (1 - e / 128) in epoch e, 128 epochs per step, batch 512 (8 GPUs x 64):
#   run.sh's active "128 epoch setting";
# - weight decay 1e-5 on the conv weights (the 4-D parameters) in step 1, none elsewhere
#   (BN, Maxout, activation sets, FC), 0 everywhere in step 2;
# - augmentation RandomResizedCrop(224, scale 0.08-1), lighting 0.1 (the code's strength, see
#   ../bbc/resnet18-bbc_8xb32-120e_in1k.py), flip.
# Network, binarizers and initialisation: resnet18-adabin_8xb32-120e_in1k.py, with real weights
# (no weight binarizer, so no EDE schedule in this step).
# Teacher checkpoint: checkpoints/ or TEACHER_CKPT, as ../bbc/resnet18-bbc_kd-res34-8xb32-120e_in1k.py.
_base_ = ['./resnet18-adabin_8xb32-120e_in1k.py']

model = dict(
    type='KDImageClassifier',
    backbone=dict(conv_cfg=dict(weight_binarizer=None)),
    teacher_config='mmpretrain::resnet/resnet34_8xb32_in1k.py',
    teacher_checkpoint='{{$TEACHER_CKPT:checkpoints/resnet34_8xb32_in1k_20210831-f257d4e6.pth}}',
    soft_weight=1.0,
    hard_weight=0.0,
    temperature=1.0,
)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=224,
        crop_ratio_range=(0.08, 1.0),
        aspect_ratio_range=(3.0 / 4.0, 4.0 / 3.0),
        backend='pillow',
    ),
    dict(
        type='Lighting',
        eigval=[0.2175, 0.0188, 0.0045],
        eigvec=[
            [-0.5836, -0.6948, 0.4203],
            [-0.5808, -0.0045, -0.8140],
            [-0.5675, 0.7192, 0.4009],
        ],
        alphastd=0.1,
        to_rgb=False,
    ),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=64, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=64)
test_dataloader = val_dataloader

optim_wrapper = dict(
    _delete_=True,
    optimizer=dict(type='Adam', lr=2.5e-3, weight_decay=1e-5),
    # weight decay on the 4-D conv weights only, as ReActNet's two param groups
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        flat_decay_mult=0.0,
        custom_keys={'head': dict(decay_mult=0.0), 'input_binarizer': dict(decay_mult=0.0)},
    ),
)
# lr * (1 - e / 128) in epoch e = 0..127
param_scheduler = [dict(type='LinearLR', by_epoch=True, start_factor=1.0, end_factor=1 / 128)]

train_cfg = dict(by_epoch=True, max_epochs=128, val_interval=1)
# 8 GPUs x 64 images
auto_scale_lr = dict(base_batch_size=512)
custom_hooks = [
    dict(type='SyncBuffersHook'),  # average BN statistics over the ranks after every epoch
    dict(type='NonFiniteCheckHook'),  # stop at the first NaN / inf loss (mmbinary default)
]
