# SBPN-34 (BBC) with a binary deconv head (real final 1x1 conv).
_base_ = ['./td-hm_sbpn-bireal18-bbc-binhead_8xb64-210e_coco-256x192.py']

model = dict(backbone=dict(depth=34))
