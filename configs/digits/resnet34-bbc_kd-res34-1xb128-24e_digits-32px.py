# Tiny CPU variant of configs/bbc/resnet34-bbc_kd-res34-8xb32-120e_in1k.py (the BBC paper's
# ResNet-34 recipe): resnet34-bbc_1xb128-24e_digits-32px.py + BBC's distillation (0.9 soft-target
# CE + 0.1 CE, T = 1) from the tiny real ResNet-34 of resnet34_1xb128-10e_digits-32px.py (teacher
# checkpoint: TEACHER_CKPT or --cfg-options model.teacher_checkpoint=...). Test the checkpoints
# with resnet34-bbc_1xb128-24e_digits-32px.py.
_base_ = ['./resnet34-bbc_1xb128-24e_digits-32px.py']

model = dict(
    type='KDImageClassifier',
    teacher_config='{{ fileDirname }}/resnet34_1xb128-10e_digits-32px.py',
    teacher_checkpoint='{{$TEACHER_CKPT:work_dirs/resnet34_1xb128-10e_digits-32px/epoch_10.pth}}',
    soft_weight=0.9,
    hard_weight=0.1,
    temperature=1.0,
)
