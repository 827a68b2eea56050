"""Evaluate the model once before the first training epoch."""

from mmengine.hooks import Hook

from mmbinary.registry import HOOKS


@HOOKS.register_module()
class ValidateBeforeTrainHook(Hook):
    """Run the validation loop once before training starts.

    MMEngine's train loops validate only after an epoch (or an interval of iterations). With
    this hook the first entry of the validation log is the starting point -- the untrained
    network's metric, or that of the checkpoint given by ``load_from`` -- so a learning curve
    starts where training starts. The metrics are logged as validation at epoch (or iteration)
    0 and written to ``vis_data/scalars.json`` like every other validation.

    Nothing happens when training resumes from a checkpoint past iteration 0 (the curve already
    has its start) or without a validation loop (``--no-validate``).

    Example:
        >>> custom_hooks = [dict(type='ValidateBeforeTrainHook')]
    """

    priority = 'LOWEST'  # after every hook that prepares training (e.g. checks, EMA, schedules)

    def before_train(self, runner) -> None:
        if runner.val_loop is None or runner.iter > 0:
            return
        runner.val_loop.run()
