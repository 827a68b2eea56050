import pytest
import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import nn
from torch.utils.data import Dataset

from mmbinary.layers import BinaryConv2d
from mmbinary.scope import build_scope


class ToyBinaryNet(BaseModel):
    """Two binary convs (configurable binarizers) and a real linear head."""

    def __init__(self, weight_binarizer='MLPBinarizer', input_binarizer='EDE'):
        super().__init__()
        with build_scope():
            self.backbone = nn.Sequential(
                nn.Conv2d(1, 8, 3, padding=1),
                nn.BatchNorm2d(8),
                BinaryConv2d(8, 8, 3, padding=1, weight_binarizer=weight_binarizer,
                             input_binarizer=input_binarizer, center_weight=True),
                nn.BatchNorm2d(8),
                BinaryConv2d(8, 8, 3, padding=1, weight_binarizer=weight_binarizer,
                             input_binarizer=input_binarizer, center_weight=True),
            )  # fmt: skip
        self.head = nn.Linear(8, 2)

    def forward(self, inputs, labels=None, mode='tensor'):
        logits = self.head(self.backbone(inputs).mean((2, 3)))
        if mode == 'loss':
            return dict(loss=F.cross_entropy(logits, labels))
        return logits


class ToyDataset(Dataset):
    def __init__(self, n=16):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 1, 6, 6, generator=g)
        self.y = (self.x.mean((1, 2, 3)) > 0).long()

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return dict(inputs=self.x[i], labels=self.y[i])


@pytest.fixture
def make_runner(tmp_path):
    from mmengine.runner import Runner

    def make(model=None, max_epochs=4, **kwargs):
        cfg = dict(
            model=model or ToyBinaryNet(),
            work_dir=str(tmp_path),
            train_dataloader=dict(
                dataset=ToyDataset(),
                sampler=dict(type='DefaultSampler', shuffle=False),
                batch_size=4,
                collate_fn=dict(type='default_collate'),
            ),
            optim_wrapper=dict(optimizer=dict(type='Adam', lr=1e-3)),
            train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
            default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1000)),
            default_scope='mmbinary',
            log_level='WARNING',
        )
        cfg.update(kwargs)
        return Runner(**cfg)

    return make
