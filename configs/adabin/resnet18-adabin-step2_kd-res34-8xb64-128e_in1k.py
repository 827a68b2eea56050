# AdaBin ResNet-18, two-step training "as ReActNet", step 2: binary weights and activations
# (AdaBin's weight sets with the EDE schedule, t from 1e-3 to 10 over this step's 128 epochs
# [reconstruction]), initialised from step 1's last checkpoint (both steps have the same
# parameters, so every tensor loads); the optimizer and the schedule restart (load_from, not
# resume). Weight decay 0, otherwise as step 1 (resnet18-adabin-step1_kd-res34-8xb64-128e_in1k.py:
# ReActNet's setting, distillation from a real ResNet-34 [reconstruction]):
#   bash tools/dist_train.sh configs/adabin/resnet18-adabin-step1_kd-res34-8xb64-128e_in1k.py 8
#   bash tools/dist_train.sh configs/adabin/resnet18-adabin-step2_kd-res34-8xb64-128e_in1k.py 8
# (STEP1_CKPT=<path> or --cfg-options load_from=<path> for another step-1 checkpoint). The
# checkpoints hold the student only, which is exactly the model of
# resnet18-adabin_8xb32-120e_in1k.py: test them with that config.
_base_ = ['./resnet18-adabin-step1_kd-res34-8xb64-128e_in1k.py']

model = dict(
    backbone=dict(conv_cfg=dict(weight_binarizer=dict(_delete_=True, type='AdaBinWeight')))
)

optim_wrapper = dict(
    _delete_=True,
    optimizer=dict(type='Adam', lr=2.5e-3, weight_decay=0),
)

custom_hooks = [
    dict(type='SyncBuffersHook'),  # average BN statistics over the ranks after every epoch
    dict(type='NonFiniteCheckHook'),  # stop at the first NaN / inf loss (mmbinary default)
    dict(type='BinarizerScheduleHook', param='t', start=1e-3, end=10, mode='log', types=['EDE']),
]

load_from = '{{$STEP1_CKPT:work_dirs/resnet18-adabin-step1_kd-res34-8xb64-128e_in1k/epoch_128.pth}}'
