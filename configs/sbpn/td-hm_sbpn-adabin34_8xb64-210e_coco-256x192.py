# SBPN-34, AdaBin variant ([3, 4, 6, 3] BasicBlocks), real head.
_base_ = ['./td-hm_sbpn-adabin18_8xb64-210e_coco-256x192.py']

model = dict(backbone=dict(depth=34))
