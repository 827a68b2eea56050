"""User-facing inference entry points (as ``mmpose.apis``)."""

from .deployed_pose import init_deployed_pose_model

__all__ = ['init_deployed_pose_model']
