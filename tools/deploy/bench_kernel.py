"""Per-layer speed of the native 1-bit conv (mmbinary.ops) against OpenVINO's kernels.

For each 3x3 layer shape (C -> C channels, stride 1, padding 1; the ResNet-18 layers of a
256x192 pose model and of ImageNet 224x224): our kernel on every ISA path this CPU runs, at each
``--threads`` count, beside OpenVINO ``BinaryConvolution`` (``xnor-popcount``, u1 weights) and,
with ``--int8``, OpenVINO's INT8 convolution of the same shape. Warm-up, then ``--rounds``
rounds in which every candidate runs ``--iters`` calls in turn (interleaved, so a load change
hits all alike); medians and the 10-90 % spread of the per-call times, in G binary MAC/s.
``--ov-avx2`` also runs OpenVINO's kernels in a subprocess with ``ONEDNN_MAX_CPU_ISA=AVX2``
(OpenVINO reads it at load time; not interleaved with the rest). ``--layout`` is the memory
layout of our kernel's input and output: ``NHWC`` (default; what ``MMBinaryConv`` runs in an
OpenVINO graph) or ``NCHW``; OpenVINO's single-layer models take NCHW float input.

``--chain`` also times our paths in a network's conditions: per shape, four layers with their own
weights, each one's output the next one's input and residual (a Bi-Real chain, in ``--layout``),
every shape's chain in turn, so each layer's weights have left the cache by its next call and
its input has just been written. A layer timed alone keeps its weights in cache; in a graph they
have left it (measured: a change that made the 64-channel layer 1.19x faster alone made it 0.97x
in a sequence of 16 layers with their own weights). Like the table, these times include the
Python call of each layer (ctypes, output allocation: 10-30 us), which a graph does not pay.

Printed first: the CPU model, the ISA paths, the clock measured by a timed chain of dependent
register adds (one per cycle; add-immediate chains are folded at rename on Golden Cove and
later cores) and /proc/cpuinfo's MHz, and the arithmetic limit derived from the measured clock:
512 binary MACs per xor + popcount + add on 512-bit vectors with two vector ports (341 MAC /
cycle) for AVX-512; the same count on 256-bit vectors (171 / cycle) for AVX2 (which has no
vector popcount: its nibble-table popcount needs ~8 ops, not 1); one 16 x 16 x 64 int8 tile
multiply per 16 cycles (1024 / cycle) for the opt-in AMX path (``--isa amx``).

Example:
    python tools/deploy/bench_kernel.py --threads 1 2 --int8 --ov-avx2 --markdown kernel.md
"""

import argparse
import ctypes
import json
import os
import subprocess
import sys
import time

import numpy as np

SHAPES = {
    'pose-64x64x48': (64, 64, 48),
    'pose-128x32x24': (128, 32, 24),
    'pose-256x16x12': (256, 16, 12),
    'pose-512x8x6': (512, 8, 6),
    'imagenet-64x56x56': (64, 56, 56),
    'imagenet-128x28x28': (128, 28, 28),
    'imagenet-256x14x14': (256, 14, 14),
    'imagenet-512x7x7': (512, 7, 7),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Benchmark the native 1-bit conv per layer')
    parser.add_argument('--shapes', nargs='+', default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument('--threads', type=int, nargs='+', default=[1, 2])
    parser.add_argument('--isa', nargs='+', help='our ISA paths (default: all this CPU runs)')
    parser.add_argument('--iters', type=int, default=20, help='calls per candidate per round')
    parser.add_argument('--rounds', type=int, default=7)
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--no-openvino', action='store_true', help='our kernel only')
    parser.add_argument('--int8', action='store_true', help='also OpenVINO INT8 conv')
    parser.add_argument('--ov-avx2', action='store_true', help='also OpenVINO with AVX2 only')
    parser.add_argument('--layout', default='NHWC', choices=['NHWC', 'NCHW'], help='ours')
    parser.add_argument(
        '--breakdown',
        action='store_true',
        help='also where our 1-thread time goes: packing / XNOR-popcount / epilogue',
    )
    parser.add_argument(
        '--chain',
        action='store_true',
        help='also time each path in a chain of 4 layers per shape (output = next input and '
        'residual), all shapes in turn: the cache conditions of a network',
    )
    parser.add_argument('--markdown', help='write the table to this markdown file')
    parser.add_argument('--ov-child', action='store_true', help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def cpuinfo():
    model, mhz = 'unknown', []
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name') and model == 'unknown':
                    model = line.split(':', 1)[1].strip()
                elif line.startswith('cpu MHz'):
                    mhz.append(float(line.split(':', 1)[1]))
    except OSError:
        pass
    return model, (float(np.median(mhz)) if mhz else None)


def _data(c, h, w, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, c, h, w)).astype(np.float32)
    code = np.where(rng.random((c, c, 3, 3)) < 0.5, 1.0, -1.0).astype(np.float32)
    return x, code


def ours(c, h, w, isa, threads, layout='NHWC'):
    from mmbinary.deploy.packing import pack_bits
    from mmbinary.ops.bconv import _Layer

    x, code = _data(c, h, w)
    layer = _Layer(
        pack_bits(code.transpose(0, 2, 3, 1)),
        c,
        x.shape,
        np.ones(c),
        np.zeros(c),
        padding=(1, 1, 1, 1),
        nhwc=layout == 'NHWC',
    )
    if layout == 'NHWC':
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    return lambda: layer.run(x, isa, threads)


def openvino_conv(c, h, w, threads, kind):
    import openvino as ov

    from mmbinary.deploy.backends.openvino import u1_constant

    x, code = _data(c, h, w)
    opset = ov.opset13
    data = opset.parameter([1, c, h, w], ov.Type.f32)
    if kind == 'binary':
        out = ov.opset1.binary_convolution(
            data, u1_constant(code), [1, 1], [1, 1], [1, 1], [1, 1], 'xnor-popcount', 0.0
        )
    else:  # INT8: FakeQuantize'd input, int8 weights (OpenVINO's low-precision transformations)
        low, high = opset.constant(np.float32(-128)), opset.constant(np.float32(127))
        xq = opset.fake_quantize(data, low, high, low, high, 256)
        wq = opset.convert(opset.constant(code.astype(np.int8)), 'f32')
        out = opset.convolution(xq, wq, [1, 1], [1, 1], [1, 1], [1, 1])
    model = ov.Model([out], [data], f'{kind}_conv')
    config = {'INFERENCE_NUM_THREADS': threads, 'NUM_STREAMS': 1, 'PERFORMANCE_HINT': 'LATENCY'}
    request = ov.Core().compile_model(model, 'CPU', config).create_infer_request()
    inputs = {0: np.where(x >= 0, 1.0, -1.0).astype(np.float32)}
    return lambda: request.infer(inputs)


def breakdown(c, h, w, isa, iters, layout='NHWC'):
    """Median seconds of (pack, count, epilogue) of our 1-thread kernel (MMBINARY_BCONV_PROFILE)."""
    from mmbinary.ops.bconv import library

    lib = library()
    lib.mmb_bconv_profile.argtypes = [ctypes.POINTER(ctypes.c_double)] * 3
    run = ours(c, h, w, isa, 1, layout)
    os.environ['MMBINARY_BCONV_PROFILE'] = '1'
    try:
        phases = []
        for _ in range(max(iters, 5)):
            run()
            out = [ctypes.c_double() for _ in range(3)]
            lib.mmb_bconv_profile(*map(ctypes.byref, out))
            phases.append([v.value for v in out])
    finally:
        del os.environ['MMBINARY_BCONV_PROFILE']
    return np.median(np.asarray(phases), axis=0)


def chain_times(shapes, isas, threads, layout, rounds, warmup, depth=4):
    """``{(shape, candidate): per-layer seconds of every round}`` of chains of ``depth`` layers
    per shape (each layer's output is the next one's input and residual), every shape's chain
    run in turn by one candidate, then the next candidate (rotating the order each round)."""
    from mmbinary.deploy.packing import pack_bits
    from mmbinary.ops.bconv import _Layer

    rng = np.random.default_rng(0)
    chains = {}
    for name in shapes:
        c, h, w = SHAPES[name]
        layers = []
        for _ in range(depth):
            code = np.where(rng.random((c, c, 3, 3)) < 0.5, 1.0, -1.0).astype(np.float32)
            scale = np.full(c, 1.0 / (9 * c))  # keeps the residual stream's values O(1)
            layers.append(
                _Layer(
                    pack_bits(code.transpose(0, 2, 3, 1)),
                    c,
                    (1, c, h, w),
                    scale,
                    np.zeros(c),
                    padding=(1, 1, 1, 1),
                    nhwc=layout == 'NHWC',
                )
            )
        x = rng.standard_normal((1, c, h, w)).astype(np.float32)
        chains[name] = (
            layers,
            np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if layout == 'NHWC' else x,
        )
    cands = [(isa, t) for isa in isas for t in threads]
    times = {(name, f'{isa}-t{t}'): [] for name in shapes for isa, t in cands}
    for r in range(warmup + rounds):
        for isa, t in cands[r % len(cands) :] + cands[: r % len(cands)]:
            for name, (layers, x) in chains.items():
                spent = 0.0
                for layer in layers:
                    t0 = time.perf_counter()
                    x = layer.run(x, isa, t, residual=x)
                    spent += time.perf_counter() - t0
                if r >= warmup:
                    times[name, f'{isa}-t{t}'].append(spent / len(layers))
    return times


def time_candidates(cands, iters, rounds, warmup):
    """``{name: per-call seconds of every round}``, interleaved, rotating the order."""
    for fn in cands.values():
        for _ in range(warmup):
            fn()
    names, times = list(cands), {n: [] for n in cands}
    for r in range(rounds):
        for n in names[r % len(names) :] + names[: r % len(names)]:
            fn = cands[n]
            t0 = time.perf_counter()
            for _ in range(iters):
                fn()
            times[n].append((time.perf_counter() - t0) / iters)
    return times


def openvino_candidates(args, c, h, w):
    cands = {}
    kinds = ('binary', 'int8') if args.int8 else ('binary',)
    for t in args.threads:
        for kind in kinds:
            name = f'ov-{"binconv" if kind == "binary" else kind}-t{t}'
            try:
                cands[name] = openvino_conv(c, h, w, t, kind)
            except RuntimeError as e:  # e.g. INT8 under ONEDNN_MAX_CPU_ISA=AVX2 (OpenVINO 2026.4)
                msg = str(e).strip().splitlines()[-1]
                print(f'{name} {c}x{h}x{w}: OpenVINO failed to compile: {msg}', file=sys.stderr)
    return cands


def ov_child(args):
    out = {}
    for name in args.shapes:
        c, h, w = SHAPES[name]
        times = time_candidates(
            openvino_candidates(args, c, h, w), args.iters, args.rounds, args.warmup
        )
        out[name] = {f'{k}-AVX2': v for k, v in times.items()}
    print('JSON' + json.dumps(out))


def main(argv=None):
    args = parse_args(argv)
    if args.ov_child:
        return ov_child(args)
    from mmbinary import ops
    from mmbinary.ops.bconv import LIMIT_BASIS, MAC_PER_CYCLE, clock_hz

    if not ops.native_available():
        sys.exit(f'native kernel unavailable: {ops.native_unavailable_reason()}')
    isas = args.isa or [i for i in ops.supported_isas() if i != 'portable']
    model, mhz = cpuinfo()
    hz = clock_hz()
    lines = [
        f'CPU: {model}; ISA paths: {", ".join(ops.supported_isas())} (auto: {ops.select_isa()}); '
        f'our layout: {args.layout}',
        f'clock: {hz / 1e9:.2f} GHz measured (timed chain of dependent register adds, '
        '1 per cycle); '
        f'/proc/cpuinfo: {mhz or "?"} MHz',
    ]
    for isa in isas:
        if isa in MAC_PER_CYCLE:
            lines.append(
                f'arithmetic limit {isa}, 1 thread: {MAC_PER_CYCLE[isa]:.0f} MAC/cycle x clock = '
                f'{MAC_PER_CYCLE[isa] * hz / 1e9:.0f} G MAC/s (assumes {LIMIT_BASIS[isa]})'
            )
    print('\n'.join(lines), flush=True)
    child = {}
    if args.ov_avx2 and not args.no_openvino:
        env = dict(os.environ, ONEDNN_MAX_CPU_ISA='AVX2')
        cmd = [
            sys.executable,
            __file__,
            '--ov-child',
            '--shapes',
            *args.shapes,
            '--threads',
            *map(str, args.threads),
            '--iters',
            str(args.iters),
            '--rounds',
            str(args.rounds),
            '--warmup',
            str(args.warmup),
        ] + (['--int8'] if args.int8 else [])
        out = subprocess.run(cmd, env=env, capture_output=True, text=True)
        found = [s for s in out.stdout.splitlines() if s.startswith('JSON')]
        if out.stderr:
            print(f'ONEDNN_MAX_CPU_ISA=AVX2 run: {out.stderr.strip()[-2000:]}', file=sys.stderr)
        if not out.returncode and found:
            child = json.loads(found[-1][4:])
    rows, breakdowns = [], []
    for name in args.shapes:
        c, h, w = SHAPES[name]
        macs = c * c * 9 * h * w
        cands = {
            f'{isa}-t{t}': ours(c, h, w, isa, t, args.layout) for isa in isas for t in args.threads
        }
        if not args.no_openvino:
            cands.update(openvino_candidates(args, c, h, w))
        times = time_candidates(cands, args.iters, args.rounds, args.warmup)
        times.update(child.get(name, {}))
        for cand, ts in times.items():
            ts = np.asarray(ts)
            med = float(np.median(ts))
            lo, hi = np.percentile(ts, [10, 90])
            row = dict(
                shape=name,
                mmac=macs / 1e6,
                candidate=cand,
                us=med * 1e6,
                spread=(hi - lo) / med * 100,
                gmacs=macs / med / 1e9,
            )
            isa = cand.split('-t')[0]
            if isa in MAC_PER_CYCLE and cand.endswith('-t1'):
                row['limit'] = row['gmacs'] / (MAC_PER_CYCLE[isa] * hz / 1e9) * 100
            rows.append(row)
        by_name = {r['candidate']: r for r in rows[-len(times) :]}
        for r in rows[-len(times) :]:
            cand = r['candidate']
            if not cand.startswith('ov-'):
                t = cand.rsplit('-t', 1)[-1]
                # AVX2 path vs OpenVINO run with AVX2 only, when measured
                base = by_name.get(f'ov-binconv-t{t}-AVX2') if cand.startswith('avx2') else None
                base = base or by_name.get(f'ov-binconv-t{t}')
                r['vs_ov'] = r['gmacs'] / base['gmacs'] if base else None
                r['vs_name'] = base['candidate'] if base else ''
            print(_row(r), flush=True)
        if args.breakdown:
            for isa in isas:
                pack, count, epi = breakdown(c, h, w, isa, args.iters, args.layout) * 1e6
                total = pack + count + epi
                # amx: in a dense NHWC layer whose expanded weights fit in L2 the epilogue runs
                # inside the tile loop, so its time is counted with the tiles there
                phase = 'tile dot products (+ fused epilogue)' if isa == 'amx' else 'XNOR-popcount'
                line = (
                    f'  {name} {isa}, 1 thread: pack {pack:.1f} us ({pack / total:.0%}), {phase} '
                    f'{count:.1f} us ({count / total:.0%}, '
                    f'{macs / count / 1e3:.0f} G MAC/s), epilogue {epi:.1f} us ({epi / total:.0%})'
                )
                breakdowns.append(line)
                print(line, flush=True)
    chain_lines = []
    if args.chain:
        times = chain_times(args.shapes, isas, args.threads, args.layout, args.rounds, args.warmup)
        for (name, cand), ts in times.items():
            c, h, w = SHAPES[name]
            med = float(np.median(ts))
            line = (
                f'  chain {name} {cand}: {med * 1e6:.1f} us per layer, '
                f'{c * c * 9 * h * w / med / 1e9:.0f} G MAC/s (4 layers, each output the next '
                'input and residual)'
            )
            chain_lines.append(line)
            print(line, flush=True)
    if args.markdown:
        with open(args.markdown, 'w') as f:
            f.write('\n'.join(f'- {s}' for s in lines) + '\n\n')
            f.write(
                '| layer | M MAC | candidate | median us | 10-90 % spread | G MAC/s | '
                'x OpenVINO binconv | % of limit |\n|---|---|---|---|---|---|---|---|\n'
            )
            f.writelines(_row(r) + '\n' for r in rows)
            if breakdowns:
                f.write('\nWhere our 1-thread time goes:\n\n')
                f.writelines(f'- {b.strip()}\n' for b in breakdowns)
            if chain_lines:
                f.write("\nIn a chain (a network's cache conditions):\n\n")
                f.writelines(f'- {b.strip()}\n' for b in chain_lines)
        print(f'wrote {args.markdown}')


def _row(r):
    vs = f'{r["vs_ov"]:.2f} ({r["vs_name"]})' if r.get('vs_ov') else ''
    lim = f'{r["limit"]:.0f}' if 'limit' in r else ''
    return (
        f'| {r["shape"]} | {r["mmac"]:.0f} | {r["candidate"]} | {r["us"]:.1f} | '
        f'{r["spread"]:.0f} % | {r["gmacs"]:.0f} | {vs} | {lim} |'
    )


if __name__ == '__main__':
    main()
