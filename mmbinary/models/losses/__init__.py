from .heatmap_distill_loss import HeatmapDistillLoss

__all__ = ['HeatmapDistillLoss']
