"""A deployed (exported) pose model behind MMPose's own inference API."""

from typing import Optional

import torch

from mmbinary.deploy import DeployedModel


class _DeployedFeatures:
    """``extract_feat`` of the wrapped estimator: the export's heatmaps, as a 1-tuple."""

    def __init__(self, deployed: DeployedModel):
        self.deployed = deployed

    def __call__(self, inputs: torch.Tensor):
        heatmaps = self.deployed(inputs.detach().cpu().float().numpy())
        return (torch.from_numpy(heatmaps),)


def _pass_heatmaps(feats):
    return feats[-1]


def init_deployed_pose_model(path: str, threads: Optional[int] = None):
    """An MMPose top-down estimator whose network runs in an mmbinary export.

    The returned model is MMPose's ``TopdownPoseEstimator`` built from the config carried by the
    export (``config.py``): the same data preprocessor, flip test, codec decoding and keypoint
    scores as the PyTorch model, with backbone + head replaced by the export
    (:class:`mmbinary.deploy.DeployedModel`). ``mmpose.apis.inference_topdown`` accepts it.

    Args:
        path (str): a pose export folder (``tools/deploy/export.py``).
        threads (int, optional): CPU threads of the runtime.

    Returns:
        ``TopdownPoseEstimator`` with ``.deployed`` (the :class:`DeployedModel`).

    Example:
        >>> from mmpose.apis import inference_topdown  # doctest: +SKIP
        >>> model = init_deployed_pose_model('work_dirs/sbpn18_ov')  # doctest: +SKIP
        >>> results = inference_topdown(model, 'person.jpg', [[0, 0, 192, 256]])  # doctest: +SKIP
        >>> results[0].pred_instances.keypoints.shape  # doctest: +SKIP
        (1, 17, 2)
    """
    from mmpose.apis import init_model

    deployed = DeployedModel(path, threads=threads)
    if deployed.meta['task'] != 'pose':
        raise ValueError(f'{path} is a {deployed.meta["task"]} export, not a pose model')
    model = init_model(deployed.config_path, None, device='cpu')
    model.backbone = torch.nn.Identity()  # the export runs it
    model.extract_feat = _DeployedFeatures(deployed)
    model.head.forward = _pass_heatmaps
    model.deployed = deployed
    return model.eval()
