# BBC ResNet-18, ImageNet: the paper's recipe = resnet18-bbc_8xb32-120e_in1k.py + knowledge
# distillation from a real ResNet-34 [official code of BBC]:
#   loss = 0.9 * soft-target CE(student, softmax(teacher)) + 0.1 * CE(student, label), T = 1.
# Teacher: mmpretrain's ResNet-34 (73.62 % top-1 in mmpretrain's model zoo); BBC's code uses
# torchvision's pretrained ResNet-34 (73.31 %), which loads into the same mmpretrain model after
# renaming its keys (see README.md). mmbinary never downloads: put the checkpoint in checkpoints/
# (URL in mmpretrain's configs/resnet/metafile.yml), or point TEACHER_CKPT (or
# --cfg-options model.teacher_checkpoint=...) at it. A missing file is a FileNotFoundError when
# the model is built, before the first iteration. Checkpoints hold the student only: test them
# with resnet18-bbc_8xb32-120e_in1k.py.
_base_ = ['./resnet18-bbc_8xb32-120e_in1k.py']

model = dict(
    type='KDImageClassifier',
    teacher_config='mmpretrain::resnet/resnet34_8xb32_in1k.py',
    teacher_checkpoint='{{$TEACHER_CKPT:checkpoints/resnet34_8xb32_in1k_20210831-f257d4e6.pth}}',
    soft_weight=0.9,
    hard_weight=0.1,
    temperature=1.0,
)
