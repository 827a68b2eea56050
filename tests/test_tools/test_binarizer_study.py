"""The binarizer study benchmark on a tiny budget: real digits, real timings, consistent tables."""

import importlib.util
import os.path as osp
import re

import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SPEC = importlib.util.spec_from_file_location(
    'binarizer_study', osp.join(ROOT, 'tools', 'benchmarks', 'binarizer_study.py')
)
study_tool = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(study_tool)

ARGV = [
    '--methods', 'STE', 'BBC-MLP', '--seeds', '0', '--epochs', '1', '--width', '8',
    '--overhead-configs', 'BBC-MLP', 'AdaBin', '--overhead-batch', '2', '--overhead-size', '32',
    '--overhead-reps', '2', '--overhead-width', '8', '--init-slopes', '40',
]  # fmt: skip


def table_rows(text, header):
    """``{first cell: [cells]}`` of the markdown table that starts with ``header``."""
    lines = text[text.index(header) :].splitlines()[2:]
    rows = {}
    for line in lines:
        if not line.startswith('|'):
            break
        cells = [c.strip() for c in line.strip('|').split('|')]
        rows[cells[0]] = cells[1:]
    return rows


def test_study_and_overhead_tables(capsys):
    torch.set_num_threads(1)
    results = study_tool.main(ARGV)
    out = capsys.readouterr().out
    print(out)

    study = results['study']
    rows = table_rows(out, '| method |')
    assert set(rows) == set(study) == {'STE', 'BBC-MLP'}
    for method, r in study.items():
        assert len(r['accuracy']) == 1
        assert 0 <= r['accuracy'][0] <= 1
        assert r['step_ms'] > 0
        accuracy, step_ms, ratio = rows[method]
        assert accuracy == f'{r["accuracy"][0]:.3f} ± 0.000'
        assert float(step_ms) == round(r['step_ms'], 1)
        assert ratio == f'{r["step_ms"] / study["STE"]["step_ms"]:.2f}×'
    # 1 epoch of 23 steps: 0.31-0.33 measured for STE (chance is 0.1)
    assert study['STE']['accuracy'][0] > 0.2
    assert re.search(r'STE seed 0: held-out accuracy \d\.\d{3}, [\d.]+ s', out)
    # the BBC run logs its MLP's initial slope, 2 * 100 * E[fc1] E[fc2] = 2.5 for positive_slope
    slope = re.search(
        r"BBC-MLP seed 0: held-out accuracy \d\.\d{3}, s'\(0\) at start ([+-][\d.]+)", out
    )
    assert slope and 2 < float(slope.group(1)) < 3

    slopes = results['init_slopes']
    rows = table_rows(out, '| init |')
    assert set(rows) == set(slopes) == {'official_code', 'positive_slope'}
    for init, values in slopes.items():
        assert len(values) == 40
        assert rows[init][0] == f'{values.mean():+.2f} ± {values.std():.2f}'
    assert (slopes['positive_slope'] > 2).all()  # 2 * 100 * E[fc1] E[fc2] = 2.5
    assert (slopes['official_code'] < 0).any() and (slopes['official_code'] > 0).any()

    overhead = results['overhead']
    rows = table_rows(out, '| configuration |')
    assert set(rows) == set(overhead) == {'STE', 'BBC-MLP', 'STE (adabin blocks)', 'AdaBin'}
    for name, ms in overhead.items():
        assert ms > 0
        style, ms_cell, ratio, met = rows[name]
        _, _, baseline, target = study_tool.OVERHEAD[name]
        assert style == study_tool.OVERHEAD[name][0]
        ratio_value = ms / overhead[baseline]
        assert float(ms_cell) == round(ms, 1)
        assert ratio == f'{ratio_value:.2f}×'
        assert met == ('—' if target is None else 'met' if ratio_value <= target else 'NOT met')
    assert rows['AdaBin'][0] == 'adabin' and rows['BBC-MLP'][0] == 'bireal'
    assert rows['STE'][2] == rows['STE (adabin blocks)'][2] == '1.00×'
