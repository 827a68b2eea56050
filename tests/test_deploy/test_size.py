import torch
from torch import nn

from mmbinary.deploy import convert_model, deployed_size, export_size
from mmbinary.layers import BinaryConv2d


def test_deployed_size_per_part(tmp_path):
    net = nn.Sequential(
        nn.Conv2d(3, 64, 3, bias=False), BinaryConv2d(64, 70, 3, bias=False), nn.BatchNorm2d(70)
    ).eval()
    converted, report = convert_model(net, torch.zeros(1, 3, 8, 8))
    assert report['1']['bn'] == '2'
    sizes = deployed_size(net, converted, report)
    real = 3 * 64 * 9 * 4
    bn = 4 * 70 * 4  # weight, bias, running mean / var
    assert sizes['fp32'] == dict(binary=70 * 64 * 9 * 4 + bn, real=real)
    assert sizes['int8'] == dict(binary=70 * 64 * 9 + 70 * 4 + bn, real=3 * 64 * 9 + 64 * 4)
    # 64 input channels = one 64-bit word per (output channel, tap), plus scale and bias
    assert sizes['deployed'] == dict(binary=70 * 9 * 8 + 2 * 70 * 4, real=real)
    (tmp_path / 'a.bin').write_bytes(b'123')
    (tmp_path / 'b.json').write_bytes(b'45')
    assert export_size(str(tmp_path)) == 5
