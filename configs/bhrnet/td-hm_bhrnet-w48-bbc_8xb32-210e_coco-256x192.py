# BHRNet-W48 (bbc): td-hm_bhrnet-w32-bbc widened as MMPose's HRNet-W48 config does
# (branch widths 48 / 96 / 192 / 384, head input 48, batch 8 x 32).
_base_ = ['./td-hm_bhrnet-w32-bbc_8xb64-210e_coco-256x192.py']

model = dict(
    backbone=dict(
        extra=dict(
            stage2=dict(num_channels=(48, 96)),
            stage3=dict(num_channels=(48, 96, 192)),
            stage4=dict(num_channels=(48, 96, 192, 384)),
        )
    ),
    head=dict(in_channels=48),
)
train_dataloader = dict(batch_size=32)
