# Tiny CPU variant of configs/bbc/resnet20-bbc_kd-res18-1xb128-400e_cifar10.py:
# resnet20-bbc_1xb128-12e_digits-8px.py + BBC's distillation (0.9 soft-target CE + 0.1 CE, T = 1)
# from the real CIFAR ResNet-18 of resnet18_1xb128-10e_digits-8px.py trained on the same digits.
# Train the teacher first, then point TEACHER_CKPT (or --cfg-options
# model.teacher_checkpoint=...) at its checkpoint. Test the checkpoints with
# resnet20-bbc_1xb128-12e_digits-8px.py.
_base_ = ['./resnet20-bbc_1xb128-12e_digits-8px.py']

model = dict(
    type='KDImageClassifier',
    teacher_config='{{ fileDirname }}/resnet18_1xb128-10e_digits-8px.py',
    teacher_checkpoint='{{$TEACHER_CKPT:work_dirs/resnet18_1xb128-10e_digits-8px/epoch_10.pth}}',
    soft_weight=0.9,
    hard_weight=0.1,
    temperature=1.0,
)
