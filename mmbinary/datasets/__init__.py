from .digits import load_digits_split
from .digits_cls import DigitsDataset
from .synthetic_coco import generate_synthetic_coco

__all__ = ['DigitsDataset', 'generate_synthetic_coco', 'load_digits_split']
