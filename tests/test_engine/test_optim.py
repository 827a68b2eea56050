import pytest
import torch
from mmengine.hooks import Hook

from mmbinary.engine.optimizers import BinaryOptimWrapperConstructor, binarizer_parameters

from .conftest import ToyBinaryNet

BBC_OPTIM = dict(
    optimizer=dict(type='Adam', lr=2.5e-3, weight_decay=0),
    constructor='BinaryOptimWrapperConstructor',
    paramwise_cfg=dict(binarizer_group=dict(lr=1e-3, weight_decay=0)),
)
PLAIN_OPTIM = dict(optimizer=BBC_OPTIM['optimizer'])
BBC_SCHEDULE = [
    dict(
        type='ParamGroupScheduler',
        exclude_groups=['binarizer'],
        by_epoch=True,
        scheduler=dict(type='LinearLR', start_factor=1.0, end_factor=0.25),
    ),
    dict(
        type='ParamGroupScheduler',
        groups=['binarizer'],
        by_epoch=True,
        scheduler=dict(type='MultiStepLR', milestones=[1, 3], gamma=0.1),
    ),
]


class RecordLR(Hook):
    def __init__(self):
        self.lrs = []

    def before_train_epoch(self, runner):
        groups = runner.optim_wrapper.optimizer.param_groups
        self.lrs.append({g.get('name', 'main'): g['lr'] for g in groups})


def test_constructor_puts_the_shared_mlp_in_its_own_group():
    model = ToyBinaryNet()
    wrapper = BinaryOptimWrapperConstructor(PLAIN_OPTIM, BBC_OPTIM['paramwise_cfg'])(model)
    groups = wrapper.optimizer.param_groups
    assert [g.get('name') for g in groups] == [None, 'binarizer']
    mlp = model.backbone[2].weight_binarizer.mlp
    assert mlp is model.backbone[4].weight_binarizer.mlp
    assert {id(p) for p in groups[1]['params']} == {id(mlp.fc1), id(mlp.fc2)}
    assert groups[1]['lr'] == 1e-3 and groups[0]['lr'] == 2.5e-3
    all_ids = [id(p) for g in groups for p in g['params']]
    assert len(all_ids) == len(set(all_ids)) == len(list(model.parameters()))


def test_constructor_without_learnable_binarizers_says_so():
    model = ToyBinaryNet(weight_binarizer='STE')
    assert binarizer_parameters(model) == []
    with pytest.raises(ValueError, match='no trainable binarizer parameters'):
        BinaryOptimWrapperConstructor(PLAIN_OPTIM, BBC_OPTIM['paramwise_cfg'])(model)


def test_two_groups_follow_their_own_schedules_in_a_runner(make_runner):
    recorder = RecordLR()
    runner = make_runner(
        optim_wrapper=BBC_OPTIM, param_scheduler=BBC_SCHEDULE, custom_hooks=[recorder]
    )
    runner.train()
    # LinearLR over 4 epochs (3 steps): 2.5e-3 * (1 - 0.75 e / 3); MultiStep x0.1 at 1 and 3
    main = [2.5e-3 * (1 - 0.75 * e / 3) for e in range(4)]
    mlp = [1e-3, 1e-4, 1e-4, 1e-5]
    assert [r['main'] for r in recorder.lrs] == pytest.approx(main)
    assert [r['binarizer'] for r in recorder.lrs] == pytest.approx(mlp)


def test_group_scheduler_rejects_unknown_or_ambiguous_groups(make_runner):
    bad = [dict(type='ParamGroupScheduler', groups=['mlp'], scheduler=dict(type='ConstantLR'))]
    with pytest.raises(ValueError, match=r"no param group named \['mlp'\]"):
        make_runner(optim_wrapper=BBC_OPTIM, param_scheduler=bad).train()
    both = [dict(type='ParamGroupScheduler', scheduler=dict(type='ConstantLR'))]
    with pytest.raises(ValueError, match='exactly one of groups / exclude_groups'):
        make_runner(optim_wrapper=BBC_OPTIM, param_scheduler=both).train()


def test_resume_restores_group_schedules(make_runner, tmp_path):
    schedule = [dict(s, end=4) for s in BBC_SCHEDULE]  # the 4-epoch schedule, stopped after 2
    runner = make_runner(
        optim_wrapper=BBC_OPTIM,
        param_scheduler=schedule,
        max_epochs=2,
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
    )
    runner.train()  # stops after epoch 2 of the 4-epoch schedule, as if interrupted
    ckpt = tmp_path / 'epoch_2.pth'
    recorder = RecordLR()
    resumed = make_runner(
        optim_wrapper=BBC_OPTIM,
        param_scheduler=schedule,
        custom_hooks=[recorder],
        resume=True,
        load_from=str(ckpt),
    )
    resumed.train()
    assert [r['binarizer'] for r in recorder.lrs] == pytest.approx([1e-4, 1e-5])
    assert torch.is_tensor(next(resumed.model.parameters()))
