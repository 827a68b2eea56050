from .digits import load_digits_split
from .synthetic_coco import generate_synthetic_coco

__all__ = ['generate_synthetic_coco', 'load_digits_split']
