# Latent-weight supervision, ResNet-18, ImageNet [reconstruction of Xu et al., "Improving Binary
# Neural Networks through Fully Utilizing Latent Weights", arXiv 2110.05850: abstract only (63.4 %
# top-1 for ResNet-18, the paper's figure), no code, no method details; see
# mmbinary/models/classifiers/latent_weight.py]. During training a real path runs the *same*
# latent weights on real activations; loss = CE(binary path) + 1.0 * CE(real path, same head)
# + 1.0 * MSE(binary features, detached real features). Nothing of it remains in eval mode or in
# checkpoints (they load into the plain ImageClassifier: test them with this config).
# Network: Bi-Real ResNet-18 of ../bbc/resnet18-bbc_8xb32-120e_in1k.py (each binary conv with its
# own real shortcut, BN, PReLU; same initialisation) with Bi-Real's binarizers: sign weights (STE)
# scaled by the per-channel mean |w|, ApproxSign activations.
# Training: BBC's network recipe without distillation (Adam 2.5e-3, wd 0, lr * (1 - e / 120) in
# epoch e, 120 epochs, batch 256 = 8 GPUs x 32, RandomResizedCrop 0.08-1, lighting, flip).
_base_ = ['../bbc/resnet18-bbc_8xb32-120e_in1k.py']

model = dict(
    type='LatentWeightClassifier',
    backbone=dict(
        conv_cfg=dict(
            _delete_=True,
            type='BinaryConv2d',
            weight_binarizer=dict(type='STE'),
            input_binarizer=dict(type='ApproxSign'),
            weight_scale='mean_abs',
        )
    ),
    latent_loss_weight=1.0,
    mimic_loss_weight=1.0,
    latent_head=None,
    detach_latent_features=True,
    latent_binary_inputs=False,
)

optim_wrapper = dict(_delete_=True, optimizer=dict(type='Adam', lr=2.5e-3, weight_decay=0))
# lr * (1 - e / 120) in epoch e = 0..119
param_scheduler = [dict(type='LinearLR', by_epoch=True, start_factor=1.0, end_factor=1 / 120)]
