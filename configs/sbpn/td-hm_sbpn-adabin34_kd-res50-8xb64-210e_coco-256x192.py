# td-hm_sbpn-adabin34 trained with heatmap distillation from MMPose's real SimpleBaseline-R50
# (COCO 256x192, 71.8 AP in MMPose's model zoo). Download the teacher checkpoint yourself
# (mmbinary never downloads): the URL is in MMPose's configs/body_2d_keypoint/topdown_heatmap/
# coco/resnet_coco.yml. Loss = keypoint MSE + 1.0 * MSE(student, teacher heatmaps).
# For testing / inference use the config without "_kd-res50" (checkpoints hold no teacher).
_base_ = ['./td-hm_sbpn-adabin34_8xb64-210e_coco-256x192.py']

model = dict(
    type='HeatmapDistillEstimator',
    teacher_config='mmpose::body_2d_keypoint/topdown_heatmap/coco/'
    'td-hm_res50_8xb64-210e_coco-256x192.py',
    teacher_checkpoint='checkpoints/td-hm_res50_8xb64-210e_coco-256x192-04af38ce_20220923.pth',
    distill_loss=dict(type='HeatmapDistillLoss', mode='mse', loss_weight=1.0),
)
