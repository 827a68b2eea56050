# Tiny CPU variant of configs/bbc/resnet18-bbc_kd-res34-8xb32-120e_in1k.py (the BBC paper's
# recipe): resnet18-bbc_1xb128-12e_digits-32px.py + BBC's distillation, loss = 0.9 * soft-target
# CE(teacher softmax) + 0.1 * CE(label), T = 1, from the real ResNet-34 of
# resnet34_1xb128-10e_digits-32px.py trained on the same digits. Train the teacher first, then
# point TEACHER_CKPT (or --cfg-options model.teacher_checkpoint=...) at its checkpoint. Test the
# checkpoints with resnet18-bbc_1xb128-12e_digits-32px.py (they hold the student only).
_base_ = ['./resnet18-bbc_1xb128-12e_digits-32px.py']

model = dict(
    type='KDImageClassifier',
    teacher_config='{{ fileDirname }}/resnet34_1xb128-10e_digits-32px.py',
    teacher_checkpoint='{{$TEACHER_CKPT:work_dirs/resnet34_1xb128-10e_digits-32px/epoch_10.pth}}',
    soft_weight=0.9,
    hard_weight=0.1,
    temperature=1.0,
)
