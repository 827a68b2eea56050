# SBPN-34 (BBC): binary Bi-Real ResNet-34 backbone ([6, 8, 12, 6] blocks) + real head.
_base_ = ['./td-hm_sbpn-bireal18-bbc_8xb64-210e_coco-256x192.py']

model = dict(backbone=dict(depth=34))
