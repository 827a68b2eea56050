"""The demo's pose model: ``predict(img, bboxes) -> [PoseDataSample]``, PyTorch or deployed."""

import os.path as osp
from typing import List

import numpy as np
import torch

from .sources import DemoError


class TopdownPoseModel:
    """A top-down pose model behind one call, whatever runs it.

    Wraps any model that :func:`mmpose.apis.inference_topdown` accepts (it has ``cfg`` and
    ``dataset_meta``): an MMPose estimator built from a config and checkpoint
    (:meth:`from_config`), or an export of mmbinary's deploy tools (:meth:`from_deployed`).

    Args:
        model: the model given to ``inference_topdown``.

    Example:
        >>> pose = TopdownPoseModel.from_config(CONFIG, CHECKPOINT)  # doctest: +SKIP
        >>> results = pose.predict(frame_bgr, np.array([[10, 20, 110, 320]]))  # doctest: +SKIP
    """

    def __init__(self, model):
        self.model = model

    @property
    def dataset_meta(self) -> dict:
        return self.model.dataset_meta

    @property
    def description(self) -> str:
        """What runs the network: the export's back end, precision and 1-bit kernel, or PyTorch."""
        deployed = getattr(self.model, 'deployed', None)
        if deployed is None:
            return f'PyTorch {type(self.model).__name__} on {next(self.model.parameters()).device}'
        return (
            f'{deployed.backend} export, real part {deployed.precision} (float ops in '
            f'{deployed.runtime_precision}), 1-bit convs on {deployed.kernel}, '
            f'{deployed.threads} thread(s)'
        )

    @property
    def cfg(self):
        return self.model.cfg

    @classmethod
    def from_config(cls, config: str, checkpoint: str, device: str = 'cpu'):
        """An MMPose estimator whose checkpoint must match its config exactly.

        Raises:
            DemoError: a missing config or checkpoint, or a checkpoint whose weights do not
                match the config (missing, unexpected or differently shaped tensors).
        """
        from mmengine.runner import load_checkpoint
        from mmpose.apis import init_model

        for kind, path in (('config', config), ('checkpoint', checkpoint)):
            if not osp.isfile(path):
                raise DemoError(f'pose {kind} not found: {path}')
        model = init_model(config, None, device=device)
        try:
            meta = load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
        except RuntimeError as error:  # state-dict mismatch: unexpected / missing / shapes
            lines = [line.strip() for line in str(error).splitlines()[1:] if line.strip()]
            detail = '; '.join(line if len(line) < 200 else line[:197] + '...' for line in lines)
            raise DemoError(
                f'checkpoint {checkpoint} does not match config {config}: {detail}'
            ) from error
        except Exception as error:  # not a checkpoint at all (pickle / zip errors)
            raise DemoError(f'cannot load checkpoint {checkpoint}: {error}') from error
        dataset_meta = meta.get('meta', {}).get('dataset_meta') if isinstance(meta, dict) else None
        if dataset_meta:
            model.dataset_meta = dataset_meta
        model.eval()
        return cls(model)

    @classmethod
    def from_deployed(cls, deploy_dir: str):
        """An export of ``tools/deploy/export.py`` (``init_deployed_pose_model``), fast on CPU.

        Raises:
            DemoError: ``deploy_dir`` is not a readable export, or its back end is not installed.
        """
        from mmbinary.apis import init_deployed_pose_model

        try:
            return cls(init_deployed_pose_model(deploy_dir))
        except (FileNotFoundError, ImportError, ValueError, RuntimeError) as error:
            raise DemoError(f'cannot load the export {deploy_dir}: {error}') from error

    def predict(self, img: np.ndarray, bboxes: np.ndarray) -> List:
        """One ``PoseDataSample`` per box (``(N, >= 4)``, xyxy); ``[]`` when there is none."""
        from mmpose.apis import inference_topdown

        bboxes = np.asarray(bboxes, np.float32)
        if bboxes.size == 0:  # inference_topdown would take the whole image instead
            return []
        bboxes = bboxes.reshape(len(bboxes), -1)
        with torch.no_grad():
            results = inference_topdown(self.model, img, bboxes[:, :4])
        if bboxes.shape[1] > 4:
            for result, score in zip(results, bboxes[:, 4]):
                result.pred_instances.bbox_scores = np.array([score], np.float32)
        return results
