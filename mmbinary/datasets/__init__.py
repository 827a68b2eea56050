from .digits import load_digits_split

__all__ = ['load_digits_split']
