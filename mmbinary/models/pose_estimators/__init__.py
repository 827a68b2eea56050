from .heatmap_distill import HeatmapDistillEstimator, student_config

__all__ = ['HeatmapDistillEstimator', 'student_config']
