# SBPN-34, AdaBin variant, binary deconv head.
_base_ = ['./td-hm_sbpn-adabin18-binhead_8xb64-210e_coco-256x192.py']

model = dict(backbone=dict(depth=34))
