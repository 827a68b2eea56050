# Self-binarizing ResNet-18, ImageNet [reconstruction: the paper (Lahoud et al., arXiv
# 1902.00730) is available to us as its abstract only; no code, no recipe, no ImageNet figure].
# Method, standard reading of the abstract: weights and activations pass through tanh(nu * x)
# with its true gradient nu * (1 - tanh^2(nu * x)) (no straight-through estimator), nu growing
# geometrically from 1 to 1000 over training (set before every epoch by BinarizerScheduleHook:
# nu = 1000 ** (epoch / epochs)); in eval mode (validation, test, export) both are exactly
# sign(x). Weights unscaled (+-1).
# Network: the Bi-Real ResNet-18 of ../bbc/resnet18-bbc_8xb32-120e_in1k.py (each binary conv with
# its own real shortcut, BN, PReLU; real stem, downsampling and FC; same initialisation), for a
# comparison with BBC on the same network. Its blocks add a real shortcut between BN and the next
# sign, so the paper's BN-as-comparison (mmbinary.binarizers.fold_binary_bn) does not apply
# inside them; it applies where sign follows BN directly.
# Training: BBC's network recipe without distillation (Adam 2.5e-3, wd 0, lr * (1 - e / 120) in
# epoch e, 120 epochs, batch 256 = 8 GPUs x 32, RandomResizedCrop 0.08-1, lighting, flip), plain CE.
_base_ = ['../bbc/resnet18-bbc_8xb32-120e_in1k.py']

model = dict(
    backbone=dict(
        conv_cfg=dict(
            _delete_=True,
            type='BinaryConv2d',
            weight_binarizer=dict(type='SelfBinarizingTanh'),
            input_binarizer=dict(type='SelfBinarizingTanh'),
            weight_scale='none',
        )
    )
)

optim_wrapper = dict(_delete_=True, optimizer=dict(type='Adam', lr=2.5e-3, weight_decay=0))
# lr * (1 - e / 120) in epoch e = 0..119
param_scheduler = [dict(type='LinearLR', by_epoch=True, start_factor=1.0, end_factor=1 / 120)]

# nu = 1 * (1000 / 1) ** (epoch / epochs)
custom_hooks = [
    dict(type='SyncBuffersHook'),  # average BN statistics over the ranks after every epoch
    dict(type='NonFiniteCheckHook'),  # stop at the first NaN / inf loss (mmbinary default)
    dict(
        type='BinarizerScheduleHook',
        param='nu',
        start=1,
        end=1000,
        mode='log',
        types=['SelfBinarizingTanh'],
    ),
]
