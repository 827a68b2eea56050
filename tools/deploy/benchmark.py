"""Latency of a binary model in every back end beside every way to run its FP32 counterpart.

End to end (and per binary layer with ``--per-layer``), at each ``--threads`` count: warm-up,
then ``--rounds`` rounds in which every candidate runs ``--iters`` calls in turn (interleaved, so
a load change hits all candidates alike); medians and the 10-90 % spread of the per-call times.
The detected ISA is printed (``ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI`` / ``=AVX2`` emulate CPUs
without AMX / AVX-512; OpenVINO and oneDNN honour it).

Candidates: the binary model in PyTorch eager as trained, converted (constants) in PyTorch
eager, OpenVINO with ``BinaryConvolution`` and an f32 / bf16 / NNCF-int8 real part, OpenVINO
exact-INT8 form, OpenVINO with mmbinary's native ``MMBinaryConv`` (f32 / bf16 / int8 real part;
and int8 with floats instead of packed bits between chained nodes, to show what the chaining
saves), PyTorch with the native kernel, ONNX Runtime; the FP32 counterpart (``--fp32``:
SimpleBaseline-ResNet-18, HRNet-W32 or ResNet-18) in PyTorch FP32, OpenVINO FP32, BF16 and
NNCF INT8. NNCF calibrates on random inputs here: latency does not depend on the calibration
data (accuracy does).

``--profile`` prints, for each OpenVINO candidate, where its time goes: OpenVINO's per-node times
(``PERF_COUNT``) by node type and kernel, custom ops (``MMBinaryConv``) under their IR type, its
slowest nodes, and each ``MMBinaryConv`` node with its binary MACs and G MAC/s.

``--skip NAME ...`` leaves candidates out before they are built (names as printed), ``--only
NAME ...`` times only those (e.g. ``--only 'binary | OpenVINO + native MMBinaryConv, real part
int8' 'FP32 counterpart | OpenVINO int8'``: other candidates' threads disturb timings). Known
problem: OpenVINO 2026.4.1 spins in ``compile_model`` on the NNCF-INT8 form of the 8x8 digits
ResNet-20 (``--skip 'binary | OpenVINO BinaryConvolution, real part int8'`` there).

Example:
    python tools/deploy/benchmark.py \
        configs/coco_tiny/td-hm_sbpn-bireal18_1xb4-60e_coco-tiny-256x192.py \
        --fp32 simplebaseline-r18 --threads 1 2 --per-layer --markdown bench.md
"""

import argparse
import os
import os.path as osp
import tempfile
import time
from functools import partial

import numpy as np
import torch
from torch import nn

from mmbinary.deploy import DeployedBinaryConv, InferenceNet, convert_model
from mmbinary.deploy.exporter import build_model, load_checkpoint_strict

FP32 = {
    'simplebaseline-r18': (
        'mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py',
        dict(model=dict(backbone=dict(depth=18, init_cfg=None), head=dict(in_channels=512))),
    ),
    'hrnet-w32': (
        'mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py',
        dict(model=dict(backbone=dict(init_cfg=None))),
    ),
    'resnet18': ('mmpretrain::resnet/resnet18_8xb32_in1k.py', {}),
}


# the same export with floats instead of packed bits between chained nodes (chain_bits off)
UNCHAINED = 'binary | OpenVINO + native MMBinaryConv, real part int8, floats between nodes'
BINARY_CANDIDATES = [
    'binary | PyTorch eager, as trained',
    'binary | PyTorch eager, converted constants',
    *(f'binary | OpenVINO BinaryConvolution, real part {p}' for p in ('f32', 'bf16', 'int8')),
    'binary | OpenVINO exact-INT8 form, real part bf16',
    *(f'binary | OpenVINO + native MMBinaryConv, real part {p}' for p in ('f32', 'bf16', 'int8')),
    UNCHAINED,
    'binary | PyTorch + native kernel (packed export)',
    'binary | ONNX Runtime (Sign + Conv on +/-1)',
]
FP32_CANDIDATES = [
    'FP32 counterpart | PyTorch FP32',
    *(f'FP32 counterpart | OpenVINO {p}' for p in ('f32', 'bf16', 'int8')),
]
LAYER_CANDIDATES = [
    'PyTorch FP32 conv',
    'OpenVINO FP32 conv',
    'OpenVINO BinaryConvolution',
    'OpenVINO exact-INT8 form',
]

KNOWN_CANDIDATES = BINARY_CANDIDATES + FP32_CANDIDATES + LAYER_CANDIDATES


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Benchmark a binary model against FP32')
    parser.add_argument('config', help='binary model config')
    parser.add_argument('checkpoint', nargs='?', help='its checkpoint (default: random init)')
    parser.add_argument('--fp32', default='simplebaseline-r18', choices=[*FP32, 'none'])
    parser.add_argument('--input-shape', type=int, nargs=2, default=(256, 192), metavar=('H', 'W'))
    parser.add_argument('--threads', type=int, nargs='+', default=[1, 2])
    parser.add_argument('--iters', type=int, default=20, help='calls per candidate per round')
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument(
        '--warmup',
        type=int,
        default=10,
        help='calls per candidate before timing (the native kernel settles its per-node timed '
        'choice of ISA path in its first 10 calls)',
    )
    parser.add_argument('--per-layer', action='store_true', help='also time each binary conv')
    parser.add_argument(
        '--profile',
        action='store_true',
        help='print where each OpenVINO candidate spends its time (PERF_COUNT: per node type, '
        'slowest nodes, each MMBinaryConv node with its G MAC/s; profiling adds a little '
        'overhead to their timings)',
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument('--skip', nargs='*', default=[], help='candidate names to leave out')
    which.add_argument(
        '--only', nargs='+', help='candidate names to time, every other one left out'
    )
    parser.add_argument('--markdown', help='write the tables to this markdown file')
    args = parser.parse_args(argv)
    for option, names in (('--skip', args.skip), ('--only', args.only or [])):
        unknown = [name for name in names if name not in KNOWN_CANDIDATES]
        if unknown:
            parser.error(f'{option}: unknown candidates {unknown}; known: {KNOWN_CANDIDATES}')
    if args.only:
        args.skip = [name for name in KNOWN_CANDIDATES if name not in args.only]
    return args


def detected_isa() -> str:
    flags = set()
    if osp.exists('/proc/cpuinfo'):
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('flags'):
                    flags = set(line.split(':', 1)[1].split())
                    break
    wanted = [
        'avx2',
        'avx512f',
        'avx512_vnni',
        'avx512_vpopcntdq',
        'avx512_bf16',
        'amx_int8',
        'amx_bf16',
    ]
    isa = ' '.join(f for f in wanted if f in flags) or 'unknown'
    limit = os.environ.get('ONEDNN_MAX_CPU_ISA')
    try:
        import openvino as ov

        caps = ov.Core().get_property('CPU', 'OPTIMIZATION_CAPABILITIES')
        isa += f' | OpenVINO CPU: {" ".join(caps)}'
    except Exception:  # noqa: BLE001  (report what can be detected)
        pass
    return isa + (f' | ONEDNN_MAX_CPU_ISA={limit}' if limit else '')


def _or_skipped(build):
    """``build``, or ``None`` (reported) if this CPU / ISA limit cannot compile the model."""

    def wrapped(*args, **kwargs):
        try:
            return build(*args, **kwargs)
        except RuntimeError as e:
            lines = [line for line in str(e).splitlines() if line.strip()]
            print(f'  candidate skipped: {" / ".join(lines[-2:])[:300]}')
            return None

    return wrapped


def openvino_candidate(*args, **kwargs):
    """An OpenVINO runner, or ``None`` (reported) if this CPU / ISA limit cannot compile it."""
    return _or_skipped(_openvino_candidate)(*args, **kwargs)


def _openvino_candidate(
    net, example, threads, precision='f32', binary=True, exact_int8=False, profile=False
):
    import openvino as ov

    from mmbinary.deploy.backends import openvino as backend

    with torch.no_grad():
        model = ov.convert_model(torch.export.export(net.eval(), (example,), strict=False))
    model.reshape(list(example.shape))
    if binary:
        backend.rewrite_binary_convs(model, exact_int8=exact_int8)
    if precision == 'int8':
        calib = [
            np.random.default_rng(i).standard_normal(example.shape, np.float32) for i in range(8)
        ]
        backend.fold_pooled_shortcuts(model)  # as the export does
        model = backend.quantize_real_part(model, calib, log=lambda s: None)
    with tempfile.TemporaryDirectory() as tmp:
        xml = osp.join(tmp, 'model.xml')
        ov.save_model(model, xml, compress_to_fp16=False)
        runner = backend.OpenVINORunner(
            xml, 'bf16' if precision == 'bf16' else 'f32', threads, perf_count=profile
        )
    return runner


@_or_skipped
def native_openvino_candidate(net, example, threads, precision='f32', profile=False, chain=True):
    """The export of ``--binary-kernel native``: MMBinaryConv nodes, OpenVINO real part
    (``chain=False``: floats instead of packed bits between chained nodes)."""
    from mmbinary.deploy.backends import openvino as backend
    from mmbinary.ops import openvino_ext

    ok, reason = openvino_ext.available(log=lambda s: None)
    if not ok:
        print(f'  candidate skipped: {reason}')
        return None
    calib = None
    if precision == 'int8':
        calib = [
            np.random.default_rng(i).standard_normal(example.shape, np.float32) for i in range(8)
        ]
    tmp = tempfile.mkdtemp()
    written = backend.export(
        net,
        example,
        tmp,
        precision=precision,
        calibration=calib,
        binary_kernel='native',
        log=lambda s: None,
        chain=chain,
    )
    if written['binary_kernel'] != 'native':
        print('  candidate skipped: the export fell back to BinaryConvolution')
        return None
    openvino_ext.set_threads(threads)
    xml = osp.join(tmp, 'model.xml')
    return backend.OpenVINORunner(
        xml, precision, threads, [openvino_ext.library_path()], perf_count=profile
    )


def native_torch_candidate(net, threads):
    """The converted network with every binary layer on the native kernel (PyTorch op)."""
    import copy

    from mmbinary import ops

    if not ops.native_available():
        print(f'  candidate skipped: {ops.native_unavailable_reason()}')
        return None
    from mmbinary.ops.torch_ops import to_native

    native = copy.deepcopy(net)
    to_native(native, threads)
    return torch_candidate(native.eval())


def onnx_candidate(net, example, threads):
    from mmbinary.deploy.backends import onnx as backend

    tmp = tempfile.mkdtemp()
    backend.export(net, example, tmp)
    return backend.ONNXRunner(osp.join(tmp, 'model.onnx'), threads)


def torch_candidate(net):
    def run(x):
        with torch.no_grad():
            return net(torch.from_numpy(x))

    return run


def time_interleaved(candidates, x, iters, rounds, warmup):
    """``{name: per-call seconds}``, candidates interleaved round by round."""
    candidates = {k: v for k, v in candidates.items() if v is not None}
    for run in candidates.values():
        for _ in range(warmup):
            run(x)
    times = {name: [] for name in candidates}
    for r in range(rounds):
        for name, run in candidates.items():
            for _ in range(iters):
                t = time.perf_counter()
                run(x)
                times[name].append(time.perf_counter() - t)
        print(f'  round {r + 1}/{rounds} done')
    return times


def summary(times):
    ms = np.array(times) * 1e3
    return float(np.median(ms)), float(np.percentile(ms, 10)), float(np.percentile(ms, 90))


def end_to_end(args, net, converted, fp32_net, example, threads):
    torch.set_num_threads(threads)
    prof = dict(profile=args.profile)
    c = {}  # name -> factory; a skipped candidate is never built (no export, no calibration)
    c['binary | PyTorch eager, as trained'] = lambda: torch_candidate(net)
    c['binary | PyTorch eager, converted constants'] = lambda: torch_candidate(converted)
    for precision in ('f32', 'bf16', 'int8'):
        name = f'binary | OpenVINO BinaryConvolution, real part {precision}'
        c[name] = partial(openvino_candidate, converted, example, threads, precision, **prof)
    c['binary | OpenVINO exact-INT8 form, real part bf16'] = partial(
        openvino_candidate, converted, example, threads, 'bf16', exact_int8=True, **prof
    )
    for precision in ('f32', 'bf16', 'int8'):
        name = f'binary | OpenVINO + native MMBinaryConv, real part {precision}'
        c[name] = partial(native_openvino_candidate, converted, example, threads, precision, **prof)
    c[UNCHAINED] = partial(
        native_openvino_candidate, converted, example, threads, 'int8', chain=False, **prof
    )
    c['binary | PyTorch + native kernel (packed export)'] = partial(
        native_torch_candidate, converted, threads
    )
    c['binary | ONNX Runtime (Sign + Conv on +/-1)'] = partial(
        onnx_candidate, converted, example, threads
    )
    if fp32_net is not None:
        c['FP32 counterpart | PyTorch FP32'] = lambda: torch_candidate(fp32_net)
        for precision in ('f32', 'bf16', 'int8'):
            name = f'FP32 counterpart | OpenVINO {precision}'
            c[name] = partial(
                openvino_candidate, fp32_net, example, threads, precision, binary=False, **prof
            )
    built = build_candidates(c, args.skip)
    times = time_interleaved(built, example.numpy(), *_timing(args))
    if args.profile:
        profiles = {}
        for name, run in built.items():
            if hasattr(run, 'node_times'):
                profiles[name] = print_profile(name, run, example.numpy(), args.iters)
        print_standing(profiles, threads)
    return times


def print_profile(name, runner, x, iters, top=8):
    """Where an OpenVINO candidate's time goes: OpenVINO's per-node times (``PERF_COUNT``)
    averaged over ``iters`` calls, by node type and kernel, its slowest nodes, and each
    ``MMBinaryConv`` node with its binary MACs and rate.

    Returns:
        dict: ``total_us`` (all nodes), ``binary_us`` and ``binary_macs`` (its ``MMBinaryConv``
        nodes), per call.
    """
    by_type, by_node = {}, {}
    for _ in range(iters):
        runner(x)
        for node, kind, kernel, us in runner.node_times():
            by_type[kind, kernel] = by_type.get((kind, kernel), 0.0) + us / iters
            by_node[node, kind] = by_node.get((node, kind), 0.0) + us / iters
    total = sum(by_type.values())
    print(f'  profile of {name!r}: {total / 1e3:.2f} ms per call in its nodes (PERF_COUNT)')
    for (kind, kernel), us in sorted(by_type.items(), key=lambda kv: -kv[1]):
        if us >= 0.005 * total:
            print(f'    {kind:24s} {kernel:28s} {us / 1e3:7.3f} ms  {100 * us / total:5.1f} %')
    print(f'    slowest {top} nodes:')
    for (node, kind), us in sorted(by_node.items(), key=lambda kv: -kv[1])[:top]:
        print(f'    {node[:60]:60s} {kind:18s} {us / 1e3:7.3f} ms')
    macs = getattr(runner, 'binary_macs', {})
    layers = [(node, us) for (node, _), us in by_node.items() if node in macs]
    if layers:  # in execution order
        print('    each MMBinaryConv node (epilogue included):')
        for node, us in layers:
            rate = macs[node] / us / 1e3 if us > 0 else float('nan')
            print(
                f'    {node[:60]:60s} {macs[node] / 1e6:7.1f} M MACs {us / 1e3:7.3f} ms '
                f'{rate:7.0f} G MAC/s'
            )
    return dict(
        total_us=total,
        binary_us=sum(us for _, us in layers),
        binary_macs=sum(macs[node] for node, _ in layers),
    )


# the end-to-end targets against the FP32 model in OpenVINO INT8: faster on an AMX CPU,
# >= 1.5x without AMX, >= 3x on the AVX2 class
STANDING_RATIOS = (1.0, 1.5, 3.0)


def limit_paths():
    """The native kernel's paths whose arithmetic limit bounds its layers here: the forced one
    (``MMBINARY_BCONV_ISA``), else the automatic one and, on an AMX CPU, ``amx`` (timed per node
    against it inside OpenVINO)."""
    from mmbinary import ops
    from mmbinary.ops.bconv import MAC_PER_CYCLE

    paths = [ops.select_isa()]
    if not os.environ.get('MMBINARY_BCONV_ISA') and ops.cpu_supports('amx'):
        paths.append('amx')
    return [p for p in dict.fromkeys(paths) if p in MAC_PER_CYCLE]


def print_standing(profiles, threads, hz=None, paths=None):
    """For each profiled candidate with native 1-bit convs and the FP32 counterpart of the same
    real precision: what the 1-bit convs take against everything else (in-node times), the time
    they would need to tie with or beat the counterpart by each of ``STANDING_RATIOS``, and the
    kernel paths' arithmetic limit at the measured clock: whether a target is within reach."""
    from mmbinary.ops.bconv import MAC_PER_CYCLE, clock_hz

    for name, prof in profiles.items():
        precision = name.rsplit(' ', 1)[-1]
        ref_name = f'FP32 counterpart | OpenVINO {precision}'
        if not prof['binary_macs'] or ref_name not in profiles:
            continue
        hz = clock_hz() if hz is None else hz
        paths = limit_paths() if paths is None else paths
        ref, conv, macs = profiles[ref_name]['total_us'], prof['binary_us'], prof['binary_macs']
        other = prof['total_us'] - conv
        print(f'  where {name!r} stands against {ref_name!r} ({threads} thread(s), in-node ms):')
        print(
            f'    1-bit convs {conv / 1e3:.2f} ms ({macs / 1e9:.2f} G binary MACs, '
            f'{macs / conv / 1e3:.0f} G MAC/s); other nodes {other / 1e3:.2f} ms; '
            f'the FP32 counterpart {ref / 1e3:.2f} ms'
        )
        for ratio in STANDING_RATIOS:
            budget = ref / ratio - other
            what = 'to tie' if ratio == 1 else f'to be {ratio:g}x faster'
            if budget <= 0:
                print(
                    f'    {what}: out of reach, its other nodes alone take more than '
                    f'{ref / ratio / 1e3:.2f} ms'
                )
            else:
                print(
                    f'    {what}: 1-bit convs <= {budget / 1e3:.2f} ms '
                    f'(>= {macs / budget / 1e3:.0f} G binary MAC/s)'
                )
        for path in paths:
            rate = MAC_PER_CYCLE[path] * hz * threads  # MAC/s
            print(
                f'    {path} limit at {hz / 1e9:.2f} GHz x {threads} thread(s): '
                f'{rate / 1e9:.0f} G binary MAC/s, so the 1-bit convs take >= '
                f'{macs / rate * 1e3:.2f} ms'
            )


def build_candidates(factories, skip=()):
    """Build the candidates not in ``skip``, saying which one is being built."""
    built = {}
    for name, factory in factories.items():
        if name not in KNOWN_CANDIDATES:  # the names --skip accepts must stay the real ones
            raise KeyError(f'candidate {name!r} missing from KNOWN_CANDIDATES')
        if name in skip:
            continue
        print(f'  building {name} ...', flush=True)
        built[name] = factory()
    return built


def _timing(args):
    return args.iters, args.rounds, args.warmup


def per_layer(args, converted, example, threads):
    """Each distinct binary conv shape alone: PyTorch FP32 conv, OpenVINO FP32 conv,
    BinaryConvolution, exact-INT8 form."""
    shapes = {}

    def hook(module, inputs, _):
        key = (
            module.kind,
            tuple(inputs[0].shape),
            tuple(module.code.shape),
            module.stride,
            module.groups,
        )
        shapes.setdefault(key, (module, inputs[0].detach().clone()))

    handles = [
        m.register_forward_hook(hook)
        for m in converted.modules()
        if isinstance(m, DeployedBinaryConv) and m.kind == 'conv2d'
    ]
    with torch.no_grad():
        converted(example)
    for h in handles:
        h.remove()
    rows = []
    torch.set_num_threads(threads)
    for (_, in_shape, w_shape, stride, groups), (module, x) in shapes.items():
        with torch.no_grad():
            out = module(x)
        macs = out.numel() * int(np.prod(w_shape[1:]))
        float_conv = torch.nn.Conv2d(
            w_shape[1] * groups, w_shape[0], w_shape[2:], stride, module.padding, groups=groups
        )
        # wrapped: a root buffer named `code` clashes with GraphModule.code in torch.export
        wrapped = nn.Sequential(module)
        c = {
            'PyTorch FP32 conv': partial(torch_candidate, float_conv.eval()),
            'OpenVINO FP32 conv': partial(openvino_candidate, float_conv, x, threads, binary=False),
            'OpenVINO BinaryConvolution': partial(openvino_candidate, wrapped, x, threads),
            'OpenVINO exact-INT8 form': partial(
                openvino_candidate, wrapped, x, threads, exact_int8=True
            ),
        }
        times = time_interleaved(build_candidates(c, args.skip), x.numpy(), *_timing(args))
        label = (
            f'{w_shape[1] * groups}->{w_shape[0]} ch {in_shape[2]}x{in_shape[3]} '
            f'k{w_shape[2]} s{stride[0]}'
        )
        for name, t in times.items():
            med = summary(t)[0]
            rows.append((label, name, threads, med, macs / med / 1e6))
    return rows


def main(argv=None):
    from mmengine.config import Config
    from mmengine.hub import get_config

    args = parse_args(argv)
    isa = detected_isa()
    print(f'ISA: {isa}')
    cfg = Config.fromfile(args.config)
    model = build_model(cfg)
    if args.checkpoint:
        load_checkpoint_strict(model, args.checkpoint)
    example = torch.randn(1, 3, *args.input_shape)
    net = InferenceNet(model).eval()
    converted, _ = convert_model(net, example)
    fp32_net = None
    if args.fp32 != 'none':
        path, options = FP32[args.fp32]
        fp32_cfg = get_config(path)  # resolves mmpose:: / mmpretrain:: package configs
        fp32_cfg.merge_from_dict(options)
        fp32_net = InferenceNet(build_model(fp32_cfg)).eval()
    lines = [
        f'ISA: {isa}',
        '',
        f'model: `{args.config}`, input 1x3x{args.input_shape[0]}x{args.input_shape[1]}',
        '',
    ]
    lines += ['| candidate | threads | median ms | p10-p90 ms |', '|---|---|---|---|']
    layer_rows = []
    for threads in args.threads:
        print(f'end to end, {threads} thread(s):')
        for name, t in end_to_end(args, net, converted, fp32_net, example, threads).items():
            med, lo, hi = summary(t)
            print(f'{name:60s} {threads}  {med:8.2f} ms  ({lo:.2f}-{hi:.2f})')
            lines.append(f'| {name} | {threads} | {med:.2f} | {lo:.2f}-{hi:.2f} |')
        if args.per_layer:
            layer_rows += per_layer(args, converted, example, threads)
    if layer_rows:
        lines += [
            '',
            '| layer | candidate | threads | median ms | G MAC/s |',
            '|---|---|---|---|---|',
        ]
        for label, name, threads, med, gmacs in layer_rows:
            # 3 significant digits: a tiny layer's rate must not print as 0.0
            print(f'{label:32s} {name:28s} {threads}  {med:7.3f} ms  {gmacs:7.3g} G MAC/s')
            lines.append(f'| {label} | {name} | {threads} | {med:.3g} | {gmacs:.3g} |')
    if args.markdown:
        tmp = args.markdown + '.tmp'
        with open(tmp, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        os.replace(tmp, args.markdown)
        print(f'wrote {args.markdown}')


if __name__ == '__main__':
    main()
