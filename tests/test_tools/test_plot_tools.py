"""tools/analysis/plot_binarizers.py and plot_training.py on short real trainings: the BBC
ResNet-20 digits recipe (2 epochs) and the coco_tiny SBPN-18 of the session fixture."""

import importlib.util
import os.path as osp

import numpy as np
import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def load_tool(path):
    spec = importlib.util.spec_from_file_location(osp.basename(path)[:-3], osp.join(ROOT, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


plot_binarizers = load_tool('tools/analysis/plot_binarizers.py')
plot_training = load_tool('tools/analysis/plot_training.py')


def assert_png(path):
    with open(path, 'rb') as f:
        data = f.read()
    assert data[:8] == PNG_SIGNATURE and len(data) > 10_000


@pytest.fixture(scope='module')
def bbc_run(tmp_path_factory):
    """BBC ResNet-20 (one shared MLP estimator) trained 2 epochs on the real digits."""
    work_dir = str(tmp_path_factory.mktemp('bbc_digits'))
    train = load_tool('tools/train.py')
    config = osp.join(ROOT, 'configs/digits/resnet20-bbc_1xb128-12e_digits-8px.py')
    train.main(
        [config, '--work-dir', work_dir, '--cfg-options', 'train_cfg.max_epochs=2']
        + ['train_cfg.val_interval=1', 'default_hooks.checkpoint.interval=2']
    )
    return work_dir, osp.join(work_dir, 'epoch_2.pth')


def test_curves_match_the_formulas():
    from mmbinary.binarizers import build_binarizer

    x = torch.linspace(-2, 2, 401, dtype=torch.float64)
    xs = x.numpy()
    away = np.abs(np.abs(xs) - 1) > 1e-6  # the kinks of the clipped estimators
    y, dy = plot_binarizers.forward_and_derivative(build_binarizer('ApproxSign').double(), x)
    np.testing.assert_array_equal(y, np.where(xs >= 0, 1, -1))
    np.testing.assert_allclose(dy[away], np.maximum(0, 2 - 2 * np.abs(xs))[away], atol=1e-12)
    _, dy = plot_binarizers.forward_and_derivative(build_binarizer('ClippedSTE').double(), x)
    np.testing.assert_array_equal(dy[away], (np.abs(xs) <= 1)[away].astype(float))
    _, dy = plot_binarizers.forward_and_derivative(build_binarizer('STE').double(), x)
    np.testing.assert_array_equal(dy, np.ones_like(xs))


def test_binarizer_figure(tmp_path):
    out = str(tmp_path / 'figures' / 'binarizers.png')
    assert plot_binarizers.main(['--out', out]) == 0
    assert_png(out)


def test_learned_bbc_estimator_from_a_checkpoint(bbc_run, tmp_path):
    from mmbinary.binarizers import MLPBinarizer

    _, checkpoint = bbc_run
    state = torch.load(checkpoint, map_location='cpu', weights_only=False)['state_dict']
    mlps = plot_binarizers.learned_mlps(state)
    assert len(mlps) == 1  # one MLP shared by the network (BBC's default)
    binarizer, weights, layers = mlps[0]
    assert isinstance(binarizer, MLPBinarizer)
    assert len(layers) == 18  # ResNet-20: 9 blocks of two binary 3x3 convs
    assert weights.size == sum(state[f'{name}.weight'].numel() for name in layers)
    w = state[f'{layers[0]}.weight'].double().reshape(state[f'{layers[0]}.weight'].shape[0], -1)
    n = w.numel()
    np.testing.assert_allclose(weights[:n], (w - w.mean(1, keepdim=True)).reshape(-1).numpy())
    # the plotted derivative is the reference surrogate's autograd derivative
    x = torch.linspace(-0.5, 0.5, 101, dtype=torch.float64, requires_grad=True)
    binarizer.surrogate(x).sum().backward()
    _, dy = plot_binarizers.forward_and_derivative(binarizer, x.detach())
    np.testing.assert_allclose(dy, x.grad.numpy(), rtol=1e-9, atol=1e-12)
    out = str(tmp_path / 'bbc.png')
    assert plot_binarizers.main(['--out', out, '--checkpoint', checkpoint]) == 0
    assert_png(out)


def test_checkpoint_without_bbc(coco_tiny_sbpn18, tmp_path, capsys):
    checkpoint = coco_tiny_sbpn18['checkpoint']
    out = tmp_path / 'x.png'
    assert plot_binarizers.main(['--out', str(out), '--checkpoint', checkpoint]) == 1
    assert f'checkpoint {checkpoint} holds no MLPBinarizer' in capsys.readouterr().err
    assert not out.exists()


def test_training_figure_of_a_classifier_run(bbc_run, tmp_path):
    work_dir, _ = bbc_run
    data = plot_training.read_scalars(plot_training.find_scalars(work_dir))
    assert [epoch for epoch, _ in data['metrics']['accuracy/top1']] == [1, 2]
    assert data['loss']['loss'] and data['flip_ratio'] == {}
    out = str(tmp_path / 'training.png')
    assert plot_training.main([work_dir, '--out', out]) == 0
    assert_png(out)


def test_training_figure_of_the_pose_run(coco_tiny_sbpn18, tmp_path):
    work_dir = osp.dirname(coco_tiny_sbpn18['checkpoint'])
    data = plot_training.read_scalars(plot_training.find_scalars(work_dir))
    # the same AP curve as the fixture read from that run, and the flip ratios of every epoch
    assert data['metrics']['coco/AP'] == [
        (e, pytest.approx(ap)) for e, ap in coco_tiny_sbpn18['curve']
    ]
    groups = list(data['flip_ratio'])
    assert groups == [f'backbone.layer{i}' for i in range(1, 5)] + ['all']
    epochs = [epoch for epoch, _ in data['flip_ratio']['all']]
    assert epochs == list(range(1, len(epochs) + 1)) and len(epochs) >= 50
    assert all(0 <= v <= 1 for _, v in data['flip_ratio']['all'])
    out = str(tmp_path / 'training.png')
    assert plot_training.main([work_dir, '--out', out, '--metrics', 'coco/AP', 'coco/AR']) == 0
    assert_png(out)


def test_training_figure_errors(tmp_path, capsys):
    assert plot_training.main([str(tmp_path)]) == 1
    assert f'no vis_data/scalars.json under {tmp_path}' in capsys.readouterr().err
    scalars = tmp_path / 'scalars.json'
    scalars.write_text('{"loss": 1.0, "epoch": 1, "iter": 1, "step": 1}\n{broken\n')
    assert plot_training.main([str(scalars), '--out', str(tmp_path / 'x.png')]) == 1
    assert f'{scalars}, line 2: not JSON' in capsys.readouterr().err
    assert not (tmp_path / 'x.png').exists()


def test_per_layer_mlps_are_told_apart(tmp_path, capsys):
    # shared=False: each layer has its own MLP; the figure keeps the first max_mlps of them
    torch.manual_seed(0)
    state = {}
    for i in range(6):
        state[f'layer{i}.weight'] = torch.randn(4, 2, 3, 3) + 1.0  # centring removes the 1
        state[f'layer{i}.weight_binarizer.mlp.fc1'] = torch.rand(10) + 0.5
        state[f'layer{i}.weight_binarizer.mlp.fc2'] = torch.rand(2, 10) / 10
    mlps = plot_binarizers.learned_mlps(state)
    assert [layers for _, _, layers in mlps] == [[f'layer{i}'] for i in range(6)]
    centred = mlps[0][1].reshape(4, -1)
    np.testing.assert_allclose(centred.mean(1), 0, atol=1e-12)
    checkpoint = str(tmp_path / 'per_layer.pth')
    torch.save(dict(state_dict=state), checkpoint)
    out = str(tmp_path / 'per_layer.png')
    assert plot_binarizers.main(['--out', out, '--checkpoint', checkpoint, '--max-mlps', '2']) == 0
    assert 'plotting the first 2' in capsys.readouterr().out
    assert_png(out)
