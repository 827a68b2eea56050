from .sbpn_head import SBPNHead, UpsampleUnit

__all__ = ['SBPNHead', 'UpsampleUnit']
