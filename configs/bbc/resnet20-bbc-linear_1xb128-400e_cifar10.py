# BBC-linear ResNet-20, CIFAR-10 [reconstruction]: resnet20-bbc_1xb128-400e_cifar10.py with the
# linear gradient estimator (LinearBinarizer: backward g * (a0 + a1), one pair of gains shared by
# the network and trained in the binarizer param group).
_base_ = ['./resnet20-bbc_1xb128-400e_cifar10.py']

model = dict(
    backbone=dict(conv_cfg=dict(weight_binarizer=dict(_delete_=True, type='LinearBinarizer')))
)
