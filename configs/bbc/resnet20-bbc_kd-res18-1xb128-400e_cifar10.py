# BBC ResNet-20, CIFAR-10, with BBC's distillation (0.9 soft-target CE + 0.1 CE, T = 1) from a
# real CIFAR ResNet-18: mmpretrain's resnet18_8xb16_cifar10 (94.82 % top-1 in mmpretrain's model
# zoo; same input normalisation as the student) [reconstruction: BBC distils its ImageNet models
# from a ResNet-34; our sources give no CIFAR teacher]. mmbinary never downloads: put the teacher
# checkpoint in checkpoints/ (URL in mmpretrain's configs/resnet/metafile.yml) or point
# TEACHER_CKPT at it. Test the checkpoints with resnet20-bbc_1xb128-400e_cifar10.py.
_base_ = ['./resnet20-bbc_1xb128-400e_cifar10.py']

model = dict(
    type='KDImageClassifier',
    teacher_config='mmpretrain::resnet/resnet18_8xb16_cifar10.py',
    teacher_checkpoint='{{$TEACHER_CKPT:checkpoints/resnet18_b16x8_cifar10_20210528-bd6371c8.pth}}',
    soft_weight=0.9,
    hard_weight=0.1,
    temperature=1.0,
)
