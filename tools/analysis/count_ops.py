"""Count a (binary) model's parameters and operations: params 1-bit / 32-bit, FLOPs, BOPs, OPs.

Usage::

    python tools/analysis/count_ops.py ${CONFIG} [--input-shape H W] [--format text|json|markdown]
        [--per-layer] [--cfg-options k=v ...]

The input shape defaults to the config's ``codec.input_size`` (MMPose) or 224 x 224. For a
distillation config the student alone is counted, and for a latent-weight config the plain
classifier: the teacher and the latent-weight path are training-only, not part of the deployed
model.

Conventions (Bi-Real Net, ReActNet and the binary-network papers that follow them):

* **FLOPs**: multiply-accumulates (MACs) of the real-valued convolution, transposed-convolution
  and linear layers; MACs per layer = output positions x (C_in / groups) x k_h x k_w for a conv,
  input positions x (C_out / groups) x k_h x k_w for a transposed conv (mmengine's convention),
  ``out_features x in_features`` per sample for a linear layer. (MMPose and mmengine also
  report MACs as "FLOPs".)
* **BOPs**: MACs of the layers whose weights *and* inputs are both binary (XNOR + popcount):
  both binarizers declare ``precision == 1``. A layer with only one binary operand is counted
  in FLOPs.
* **OPs** = BOPs / 64 + FLOPs.
* Not counted (negligible, and not counted by the papers): normalisation, activations, pooling,
  upsampling, additions, and the per-channel scaling of binary layers.
* **1-bit params**: the weights of layers with a 1-bit weight binarizer.
* **32-bit params**: every other parameter used at inference, plus the per-output-channel
  constants that a binary weight needs once deployed (1 per channel for the mean-|w| scale, and
  each weight binarizer's own ``weight_constants``: 2 for AdaBin's alpha and beta); the learned
  activation sets of AdaBin count here too.
* **training-only params** (reported apart): the parameters of weight binarizers (the binary
  weight is fixed once trained) and of input binarizers that declare
  ``training_only_params`` (BBC's MLP / linear gradient estimators); they shape the gradient,
  not the deployed model.

What each binarizer is, the counter reads from the binarizer itself (``precision``,
``training_only_params``, ``weight_constants``; see :class:`mmbinary.binarizers.BaseBinarizer`):
a new binarizer needs no edit here.
"""

import argparse
import json
import os.path as osp
import sys
from typing import Dict, List, Sequence

import torch
from torch import nn

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import mmbinary  # noqa: E402, F401  (registers everything, applies compat fixes)
from mmbinary.layers import BinaryLayerMixin  # noqa: E402

COUNTED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def is_one_bit(binarizer) -> bool:
    """True for a binarizer whose value at inference is 1-bit."""
    return binarizer is not None and binarizer.precision == 1


def is_binary_op(module: nn.Module) -> bool:
    """True when both the weights and the inputs of ``module`` are 1-bit."""
    return (
        isinstance(module, BinaryLayerMixin)
        and is_one_bit(module.weight_binarizer)
        and is_one_bit(module.input_binarizer)
    )


def layer_macs(module: nn.Module, inputs: torch.Tensor, output: torch.Tensor) -> int:
    """Multiply-accumulates of one call of a conv / transposed conv / linear layer."""
    if isinstance(module, nn.ConvTranspose2d):
        kh, kw = module.kernel_size
        per_input = module.out_channels // module.groups * kh * kw
        return inputs.numel() * per_input
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        per_output = module.in_channels // module.groups * kh * kw
        return output.numel() * per_output
    return output.numel() * module.in_features  # nn.Linear


def weight_constants_per_channel(layer: BinaryLayerMixin) -> int:
    """Real constants per output channel that a deployed binary weight needs."""
    scale = 1 if layer.weight_scale == 'mean_abs' else 0  # 'learnable' is a parameter already
    return scale + layer.weight_binarizer.weight_constants


def count_params(model: nn.Module) -> Dict[str, int]:
    """``params_1bit``, ``params_32bit``, ``params_training_only`` (unique parameters)."""
    one_bit, training_only, inference_binarizer = set(), set(), set()
    derived = 0
    for module in model.modules():
        if not isinstance(module, BinaryLayerMixin):
            continue
        if is_one_bit(module.weight_binarizer):
            one_bit.add(id(module.weight))
            training_only.update(id(p) for p in module.weight_binarizer.parameters())
            channels = module._out_first(module.weight).shape[0]
            derived += channels * weight_constants_per_channel(module)
        binarizer = module.input_binarizer
        if binarizer is not None:
            ids = {id(p) for p in binarizer.parameters()}
            if binarizer.training_only_params:
                training_only.update(ids)
            else:
                inference_binarizer.update(ids)
    training_only -= inference_binarizer
    counts = dict(params_1bit=0, params_32bit=derived, params_training_only=0)
    for p in model.parameters():  # unique: a shared MLP is counted once
        if id(p) in one_bit:
            counts['params_1bit'] += p.numel()
        elif id(p) in training_only:
            counts['params_training_only'] += p.numel()
        else:
            counts['params_32bit'] += p.numel()
    return counts


def _run(model: nn.Module, x: torch.Tensor):
    from mmengine.model import BaseModel

    if isinstance(model, BaseModel):
        return model(x, None, mode='tensor')
    return model(x)


def count_ops(model: nn.Module, input_shape: Sequence[int] = (1, 3, 256, 192)) -> Dict:
    """Params and operations of ``model`` on one input of ``input_shape`` (eval mode).

    Returns a dict with ``params_1bit``, ``params_32bit``, ``params_training_only``, ``flops``,
    ``bops``, ``ops`` (= bops / 64 + flops) and ``layers`` (name, type, macs, binary).
    """
    names = {m: n for n, m in model.named_modules()}
    layers: List[Dict] = []

    def hook(module, inputs, output):
        layers.append(
            dict(
                name=names[module],
                type=type(module).__name__,
                macs=int(layer_macs(module, inputs[0], output)),
                binary=is_binary_op(module),
            )
        )

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, COUNTED)]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            _run(model, torch.zeros(tuple(input_shape)))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    bops = sum(layer['macs'] for layer in layers if layer['binary'])
    flops = sum(layer['macs'] for layer in layers if not layer['binary'])
    result = count_params(model)
    result.update(flops=flops, bops=bops, ops=bops / 64 + flops, layers=layers)
    return result


def build_model_from_config(cfg):
    """Build the (student) model of an MMPose / mmpretrain config, without initialising it."""
    from mmengine.registry import MODELS, init_default_scope

    from mmbinary.models import student_config
    from mmbinary.models.classifiers import plain_classifier_config, student_classifier_config

    init_default_scope(cfg.get('default_scope', 'mmpose'))
    # the deployed model only: no distillation teacher, no latent-weight training path
    model_cfg = plain_classifier_config(student_classifier_config(student_config(cfg.model)))
    return MODELS.build(model_cfg)


def default_input_shape(cfg) -> tuple:
    codec = cfg.get('codec')
    if isinstance(codec, dict) and 'input_size' in codec:
        w, h = codec['input_size']
        return (1, 3, h, w)
    return (1, 3, 224, 224)


def format_result(result: Dict, fmt: str, title: str = '') -> str:
    if fmt == 'json':
        return json.dumps({k: v for k, v in result.items() if k != 'layers'}, indent=2)
    m, g = 1e6, 1e9
    if fmt == 'markdown':
        return (
            f'| {title} | {result["params_1bit"] / m:.2f} M / {result["params_32bit"] / m:.2f} M '
            f'| {result["flops"] / g:.3f} G | {result["bops"] / g:.3f} G '
            f'| {result["ops"] / g:.3f} G |'
        )
    return '\n'.join(
        [
            title,
            f'input shape          {tuple(result["input_shape"])}',
            f'params 1-bit         {result["params_1bit"] / m:.3f} M',
            f'params 32-bit        {result["params_32bit"] / m:.3f} M',
            f'params training-only {result["params_training_only"] / m:.4f} M',
            f'FLOPs                {result["flops"] / g:.3f} G',
            f'BOPs                 {result["bops"] / g:.3f} G',
            f'OPs (BOPs/64+FLOPs)  {result["ops"] / g:.3f} G',
        ]
    )


def deployed_sizes(model: nn.Module, input_shape: Sequence[int]) -> Dict[str, Dict[str, int]]:
    """Bytes per part (binary / real) as FP32, INT8 and as mmbinary's export (1-bit packed).

    The model is converted as ``tools/deploy/export.py`` converts it
    (:func:`mmbinary.deploy.convert_model`); see :func:`mmbinary.deploy.deployed_size`.
    """
    from mmbinary.deploy import InferenceNet, convert_model, deployed_size

    net = InferenceNet(model).eval()
    converted, report = convert_model(net, torch.zeros(tuple(input_shape)))
    return deployed_size(net, converted, report)


def format_sizes(sizes: Dict[str, Dict[str, int]], fmt: str, title: str = '') -> str:
    mb = 1e6
    rows = dict(
        fp32='FP32',
        int8='INT8 (int8 weights + a scale per channel)',
        deployed='deployed, real part f32',
        deployed_int8_real='deployed, real part INT8',
    )
    if fmt == 'json':
        return json.dumps(sizes, indent=2)
    if fmt == 'markdown':
        cells = ' | '.join(
            f'{sizes[k]["binary"] / mb:.2f} / {sizes[k]["real"] / mb:.2f}' for k in rows
        )
        return f'| {title} | {cells} |'
    lines = [f'size (MB, binary / real / total) of {title}']
    for key, name in rows.items():
        b, r = sizes[key]['binary'] / mb, sizes[key]['real'] / mb
        lines.append(f'  {name:<42} {b:8.2f} / {r:8.2f} / {b + r:8.2f}')
    return '\n'.join(lines)


def parse_args(argv=None):
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(description='Count params / FLOPs / BOPs / OPs of a model')
    parser.add_argument('config', help='config file (MMPose or mmpretrain)')
    parser.add_argument(
        '--input-shape', type=int, nargs=2, metavar=('H', 'W'), help='input height and width'
    )
    parser.add_argument('--format', choices=('text', 'json', 'markdown'), default='text')
    parser.add_argument('--per-layer', action='store_true', help='also list every counted layer')
    parser.add_argument(
        '--deployed-size',
        action='store_true',
        help='also the bytes per part as FP32, INT8 and as the 1-bit export (converts the model)',
    )
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override settings')
    return parser.parse_args(argv)


def main(argv=None):
    from mmengine.config import Config

    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    shape = (1, 3, *args.input_shape) if args.input_shape else default_input_shape(cfg)
    model = build_model_from_config(cfg)
    result = count_ops(model, shape)
    result['input_shape'] = list(shape)
    print(format_result(result, args.format, osp.basename(args.config)))
    if args.per_layer:
        for layer in result['layers']:
            kind = 'BOPs ' if layer['binary'] else 'FLOPs'
            print(f'{kind} {layer["macs"]:>13,d}  {layer["type"]:<22} {layer["name"]}')
    if args.deployed_size:
        result['sizes'] = deployed_sizes(model, shape)
        print(format_sizes(result['sizes'], args.format, osp.basename(args.config)))
    return result


if __name__ == '__main__':
    main()
