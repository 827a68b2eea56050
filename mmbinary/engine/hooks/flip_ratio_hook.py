"""Log the fraction of binary weights that changed sign since the previous epoch."""

from collections import OrderedDict

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmbinary.binarizers.base import check_positive
from mmbinary.layers.binary_conv import BinaryLayerMixin
from mmbinary.registry import HOOKS


@HOOKS.register_module()
class FlipRatioHook(Hook):
    """After every training epoch, log the flip ratio per layer group.

    ``flip ratio = #(weights whose binary code changed since the last epoch) / #(binary
    weights)``, over the binary layers of a group. The code is the {-1, +1} value that the
    layer's weight binarizer encodes (``BinaryLayerMixin.weight_code``). The first epoch has no
    previous code and logs nothing.

    Args:
        group_depth (int): a layer's group is the first ``group_depth`` components of its name
            (``backbone.layer1.0.conv1`` -> ``backbone.layer1`` for 2). Default 2.

    Logged as ``train/flip_ratio/<group>`` and ``train/flip_ratio`` (all binary weights) in the
    message hub, and as one logger line per epoch.
    """

    priority = 'LOW'

    def __init__(self, group_depth: int = 2):
        self.group_depth = int(check_positive(type(self).__name__, 'group_depth', group_depth))
        self._previous = {}

    def _codes(self, model):
        codes = OrderedDict()
        for name, module in model.named_modules():
            if isinstance(module, BinaryLayerMixin):
                code = module.weight_code()
                if code is not None:
                    codes[name] = (code > 0).cpu()
        return codes

    def flip_ratios(self, model):
        """Per-group and overall flip ratios since the last call (``{}`` on the first)."""
        codes = self._codes(model)
        flipped, total = OrderedDict(), OrderedDict()
        for name, code in codes.items():
            previous = self._previous.get(name)
            if previous is None or previous.shape != code.shape:
                continue
            group = '.'.join(name.split('.')[: self.group_depth])
            flipped[group] = flipped.get(group, 0) + int((previous != code).sum())
            total[group] = total.get(group, 0) + code.numel()
        self._previous = codes
        if not total:
            return {}
        ratios = OrderedDict((g, flipped[g] / total[g]) for g in total)
        ratios['all'] = sum(flipped.values()) / sum(total.values())
        return ratios

    def before_train(self, runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        self._previous = self._codes(model)

    def after_train_epoch(self, runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        ratios = self.flip_ratios(model)
        if not ratios:
            return
        for group, ratio in ratios.items():
            key = 'train/flip_ratio' if group == 'all' else f'train/flip_ratio/{group}'
            runner.message_hub.update_scalar(key, ratio)
        text = ', '.join(f'{g}: {r:.4%}' for g, r in ratios.items())
        runner.logger.info(f'Epoch {runner.epoch} binary weight flip ratio - {text}')
