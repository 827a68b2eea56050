"""Fail before training when the pose head and the dataset disagree on the keypoint count."""

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmbinary.registry import HOOKS


@HOOKS.register_module()
class KeypointCountCheckHook(Hook):
    """Compare the head's ``out_channels`` with each dataset's ``num_keypoints``.

    Without it, a config whose head predicts K heatmaps on a dataset with K' keypoints fails deep
    inside the loss with a broadcasting error (or, for some losses, not at all). This hook raises
    a ``ValueError`` naming both numbers before the first iteration (and before testing).
    """

    priority = 'VERY_HIGH'

    def _check(self, runner, loaders):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        head = getattr(model, 'head', None)
        expected = getattr(head, 'out_channels', None)
        if expected is None:
            return
        for name, loader in loaders:
            dataset = getattr(loader, 'dataset', None)
            meta = getattr(dataset, 'metainfo', None) or {}
            count = meta.get('num_keypoints')
            if count is not None and count != expected:
                raise ValueError(
                    f'the pose head predicts {expected} keypoints (head.out_channels) but the '
                    f'{name} dataset {type(dataset).__name__} has {count} '
                    f'(metainfo num_keypoints); set head.out_channels={count} or use a dataset '
                    f'with {expected} keypoints'
                )

    def before_train(self, runner):
        loaders = [('train', runner.train_dataloader)]
        if runner.val_loop is not None:
            loaders.append(('val', runner.val_dataloader))
        self._check(runner, loaders)

    def before_test(self, runner):
        self._check(runner, [('test', runner.test_dataloader)])
