"""tools/deploy/bench_kernel.py on the portable path (no OpenVINO): the per-layer table and the
chained timing are printed and written to markdown for every shape and path asked for."""

import os.path as osp
import sys

import pytest

from mmbinary import ops

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools', 'deploy'))
import bench_kernel  # noqa: E402


def test_chain_timing_is_printed_per_shape_and_path(tmp_path, capsys):
    if not ops.native_available():
        pytest.fail(f'the native kernel must build here: {ops.native_unavailable_reason()}')
    md = tmp_path / 'kernel.md'
    bench_kernel.main(
        [
            *('--shapes', 'pose-512x8x6', 'imagenet-512x7x7'),
            *('--isa', 'portable', '--threads', '1', '2', '--no-openvino'),
            *('--iters', '1', '--rounds', '2', '--warmup', '1', '--chain'),
            *('--markdown', str(md)),
        ]
    )
    out = capsys.readouterr().out
    chain = [line for line in out.splitlines() if line.strip().startswith('chain ')]
    assert len(chain) == 4  # 2 shapes x 2 thread counts
    for shape in ('pose-512x8x6', 'imagenet-512x7x7'):
        for cand in ('portable-t1', 'portable-t2'):
            (line,) = [s for s in chain if f'chain {shape} {cand}:' in s]
            us = float(line.split(': ')[1].split(' us')[0])
            assert us > 0
    text = md.read_text()
    assert "In a chain (a network's cache conditions)" in text
    assert text.count('- chain ') == 4
