# td-hm_bhrnet-w48-bbc trained with heatmap distillation from MMPose's real HRNet-W48
# (COCO 256x192, 75.6 AP in MMPose's model zoo). Download the teacher checkpoint yourself
# (mmbinary never downloads): the URL is in MMPose's configs/body_2d_keypoint/topdown_heatmap/
# coco/hrnet_coco.yml. Loss = keypoint MSE + 1.0 * MSE(student, teacher heatmaps).
# For testing / inference use the config without "_kd-hrnet-w48" (checkpoints hold no teacher).
_base_ = ['./td-hm_bhrnet-w48-bbc_8xb32-210e_coco-256x192.py']

model = dict(
    type='HeatmapDistillEstimator',
    teacher_config='mmpose::body_2d_keypoint/topdown_heatmap/coco/'
    'td-hm_hrnet-w48_8xb32-210e_coco-256x192.py',
    teacher_checkpoint='checkpoints/td-hm_hrnet-w48_8xb32-210e_coco-256x192-0e67c616_20220913.pth',
    distill_loss=dict(type='HeatmapDistillLoss', mode='mse', loss_weight=1.0),
)
