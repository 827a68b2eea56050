"""The C++ core under AddressSanitizer + UBSan: random shapes (groups, strides, dilations, input
dilation, asymmetric padding, AdaBin terms, sign output, chained bits, threads, prepared
weights) on every ISA path this CPU runs, exact against a naive loop
(tests/test_ops/bconv_fuzz.cpp)."""

import os.path as osp
import re
import subprocess

from mmbinary.ops import build

HERE = osp.dirname(osp.abspath(__file__))


def test_core_is_exact_and_memory_clean_under_sanitizers(tmp_path):
    cxx = build.find_compiler()
    assert cxx, 'a C++ compiler is needed to build the native kernel'
    flags = [
        '-O1',
        '-g',
        '-std=c++17',
        '-ffp-contract=off',
        '-fsanitize=address,undefined',
        '-fno-sanitize-recover=undefined',
        '-DMMB_POISON_GRID',  # input words the packing misses would count as garbage
        f'-I{build.CSRC}',
    ]
    objects = []
    for name, extra in build.sources().items():
        obj = str(tmp_path / name.replace('.cpp', '.o'))
        subprocess.run(
            [cxx, *flags, *extra, '-c', osp.join(build.CSRC, name), '-o', obj], check=True
        )
        objects.append(obj)
    exe = str(tmp_path / 'bconv_fuzz')
    subprocess.run(
        [cxx, *flags, osp.join(HERE, 'bconv_fuzz.cpp'), *objects, '-o', exe, '-pthread'], check=True
    )
    out = subprocess.run([exe, '300'], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert 'mismatches 0' in out.stdout and 'runtime error' not in out.stderr
    chained = re.search(r'chained bits (\d+)', out.stdout)
    assert chained and int(chained.group(1)) > 0, out.stdout[-500:]
