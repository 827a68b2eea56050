"""The OpenVINO export with ``--binary-kernel native``: ``MMBinaryConv`` nodes of mmbinary's
extension library run the 1-bit convs.

* single-layer models (integer part bit-exact; folded scale / bias / AdaBin terms, a fused
  residual add and PReLU against the float64 PyTorch composition) on every ISA path the CPU
  has, each forced by ``MMBINARY_BCONV_ISA`` in its own process (the op selects it once per
  process); a forced path the CPU lacks fails naming it;
* IR round trip: exported random binary networks reloaded by ``DeployedModel`` in a fresh
  process reproduce the PyTorch eval model (f32 tolerance of the deploy tests, 1e-4 relative);
* the trained coco_tiny SBPN-18 exported with ``--binary-kernel native``: keypoints against
  PyTorch through ``inference_topdown``;
* bad input: a ``--binary-kernel`` value not allowed, a native export where the extension
  cannot be built (the export falls back, loading names the fix).

Measured f32 error of the folded epilogue against float64: <= 3e-7 of the largest output.
"""

import copy
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from torch import nn

from mmbinary.deploy import DeployedModel, InferenceNet, deploy_binary_layer, export_model
from mmbinary.layers import BinaryConv2d, BinaryConvTranspose2d
from mmbinary.ops import openvino_ext  # import-safe: no OpenVINO import

from .test_backends import REL_TOL, _checkpoint
from .test_converter import BINARIZERS, _input

pytest.importorskip('openvino')
ov_backend = pytest.importorskip('mmbinary.deploy.backends.openvino')
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ISAS = ('portable', 'avx2', 'avx512', 'neon', 'amx')

# name: (kind, cin, cout, kernel, stride, padding, dilation or output_padding, groups, binarizer)
FORMS = {
    'c3_k3_p1': ('conv2d', 3, 8, 3, 1, 1, 1, 1, 'ste'),
    'c13_k1_p0': ('conv2d', 13, 7, 1, 1, 0, 1, 1, 'ste'),
    'c65_k3_s2_p2_d2': ('conv2d', 65, 9, 3, 2, 2, 2, 1, 'ste'),
    'c13_k3_s2_p0': ('conv2d', 13, 16, 3, 2, 0, 1, 1, 'bbc_mlp'),
    'c64_k3_g2': ('conv2d', 64, 12, 3, 1, 1, 1, 2, 'ste'),
    'c13_k3_adabin_code': ('conv2d', 13, 6, 3, 1, 1, 1, 1, 'adabin_code'),
    'c65_k3_s2_adabin_paper': ('conv2d', 65, 5, 3, 2, 1, 1, 1, 'adabin_paper'),
    't13_k4_s2_p1': ('conv_transpose2d', 13, 6, 4, 2, 1, 0, 1, 'ste'),
    't9_k3_s2_p1_op1': ('conv_transpose2d', 9, 5, 3, 2, 1, 1, 1, 'ste'),
    't13_k4_s2_adabin_code': ('conv_transpose2d', 13, 4, 4, 2, 1, 0, 1, 'adabin_code'),
}


def _layer(form, seed):
    kind, cin, cout, k, stride, padding, extra, groups, binarizer = form
    torch.manual_seed(seed)
    if kind == 'conv2d':
        layer = BinaryConv2d(cin, cout, k, stride, padding, extra, groups, **BINARIZERS[binarizer])
        real = nn.Conv2d(cin, cout, k, stride, padding, extra, groups, bias=False)
    else:
        layer = BinaryConvTranspose2d(
            cin, cout, k, stride, padding, extra, groups, **BINARIZERS[binarizer]
        )
        real = nn.ConvTranspose2d(cin, cout, k, stride, padding, extra, groups, bias=False)
    deployed = deploy_binary_layer('layer', layer.eval())
    g = torch.Generator().manual_seed(seed)
    deployed.scale.copy_(torch.rand(cout, generator=g) + 0.5)
    deployed.bias.copy_(torch.randn(cout, generator=g))
    return deployed, real.eval()


class _Integer(nn.Module):
    """``B * S`` alone (scale 1, bias 0): what the kernel must compute bit-exactly."""

    def __init__(self, deployed):
        super().__init__()
        self.deployed = deployed
        deployed.scale.fill_(1.0)
        deployed.bias.zero_()
        for name in ('window_scale', 'mask_scale', 'mask_window_scale'):
            setattr(deployed, name, None)

    def forward(self, x):
        return self.deployed(x)


class _Block(nn.Module):
    """``PReLU(binary(x) + real(x))``: the fused epilogue (residual add, then PReLU)."""

    def __init__(self, deployed, real):
        super().__init__()
        self.binary, self.real = deployed, real
        self.act = nn.PReLU(deployed.out_channels, init=0.3)
        with torch.no_grad():
            self.act.weight.copy_(torch.linspace(-0.5, 0.7, deployed.out_channels))

    def forward(self, x):
        return self.act(self.binary(x) + self.real(x))


def _ops(xml):
    """``{type: [attributes]}`` of the layers of an IR .xml."""
    import xml.etree.ElementTree as ET

    ops = {}
    for layer in ET.parse(xml).getroot().iter('layer'):
        data = layer.find('data')
        ops.setdefault(layer.get('type'), []).append({} if data is None else dict(data.attrib))
    return ops


def _single_node(deployed, x):
    """The integer part as one ``MMBinaryConv`` node built directly (no tracing), batch 2."""
    import openvino as ov

    integer = _Integer(copy.deepcopy(deployed))
    param = ov.opset13.parameter(list(x.shape), ov.Type.f32)
    node = ov_backend._native_node(openvino_ext.node_factory(), param.output(0), integer.deployed)
    return ov.Model([node.output(0)], [param])


def _save(out, model, x, ref):
    import openvino as ov

    out.mkdir(exist_ok=True)
    if model is not None:
        ov.save_model(model, str(out / 'model.xml'), compress_to_fp16=False)
    np.save(out / 'x.npy', x.numpy())
    np.save(out / 'ref.npy', ref)
    return str(out)


@pytest.fixture(scope='module')
def single_ops(tmp_path_factory):
    """Every form as its integer part (one node) and as a block exported with the fused
    epilogue, with inputs and float64 references."""
    root = tmp_path_factory.mktemp('native_single')
    cases = {}
    for i, (name, form) in enumerate(FORMS.items()):
        deployed, real = _layer(form, seed=i)
        hw = (9, 7) if form[0] == 'conv2d' else (6, 5)
        threshold = deployed.threshold
        x = _input((2, form[1], *hw), seed=i, threshold=threshold)
        with torch.no_grad():
            ref = copy.deepcopy(_Integer(copy.deepcopy(deployed))).double()(x.double()).numpy()
        cases[f'{name}_integer'] = _save(
            root / f'{name}_integer', _single_node(deployed, x), x, ref
        )
        block = _Block(deployed, real).eval()
        out = root / f'{name}_block'
        out.mkdir()
        written = ov_backend.export(block, x[:1], str(out), binary_kernel='native')
        assert written['binary_kernel'] == 'native' and written['binary_convs'] == 1
        with torch.no_grad():
            ref = copy.deepcopy(block).double()(x.double()).numpy()
        cases[f'{name}_block'] = _save(out, None, x, ref)
    return cases


def test_single_op_ir_is_mmbinary_conv_with_the_epilogue_fused(single_ops):
    for case, out in single_ops.items():
        ops = _ops(osp.join(out, 'model.xml'))
        assert 'BinaryConvolution' not in ops and len(ops['MMBinaryConv']) == 1, case
        attrs = ops['MMBinaryConv'][0]
        fused = case.endswith('_block')
        assert (attrs['has_residual'], attrs['has_prelu']) == (str(int(fused)),) * 2, case
        adabin = 'adabin' in case and not case.endswith('_integer')
        assert attrs['has_mask_scale'] == str(int(adabin)), case
        if fused:  # the residual add and the PReLU are inside the node (real conv: no bias)
            assert not {'Add', 'PRelu', 'Select'} & set(ops), (case, sorted(ops))


_RUN_CASES = r"""
import ctypes, json, sys
import numpy as np
import openvino as ov
library, cases = sys.argv[1], json.loads(sys.argv[2])
core = ov.Core()
core.add_extension(library)
isa_of = ctypes.CDLL(library).mmbinary_ov_ext_isa
isa_of.restype = ctypes.c_char_p
ok = ctypes.c_int(0)
isa = isa_of(ctypes.byref(ok)).decode()
assert ok.value, isa
report = dict(isa=isa, cases={})
for name, out in cases.items():
    config = {'INFERENCE_NUM_THREADS': 1, 'INFERENCE_PRECISION_HINT': 'f32'}
    compiled = core.compile_model(core.read_model(out + '/model.xml'), 'CPU', config)
    x = np.load(out + '/x.npy')
    if compiled.input(0).get_shape()[0] == len(x):  # the whole batch in one call
        got = compiled(x)[0]
    else:
        got = np.concatenate([compiled(x[i:i + 1])[0] for i in range(len(x))])
    np.save(out + '/got_' + isa + '.npy', got)
    report['cases'][name] = out + '/got_' + isa + '.npy'
print('REPORT ' + json.dumps(report))
"""


def _run_cases(cases, env):
    """The cases run in a fresh process (openvino and the library only) with ``env`` set."""
    return _python(_RUN_CASES, openvino_ext.library_path(), json.dumps(cases), env=env)


def _python(code, *args, env=None):
    full = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get('PYTHONPATH', '')]))
    full.update(env or {})
    return subprocess.run(
        [sys.executable, '-c', code, *args], capture_output=True, text=True, env=full, timeout=300
    )


def _supported_isas():
    import ctypes

    lib = ctypes.CDLL(openvino_ext.library_path())
    return [name for i, name in enumerate(ISAS) if lib.mmb_cpu_supports(i)]


def test_supported_paths_include_portable():
    assert _supported_isas()[0] == 'portable'


@pytest.mark.parametrize('isa', ISAS)
def test_single_op_matches_deployed_binary_conv_on_each_path(single_ops, isa):
    if isa not in _supported_isas():
        done = _run_cases(single_ops, env={'MMBINARY_BCONV_ISA': isa})
        assert done.returncode != 0 and isa in done.stderr, done.stderr[-2000:]
        return
    done = _run_cases(single_ops, env={'MMBINARY_BCONV_ISA': isa})
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.split('REPORT ', 1)[1])
    assert report['isa'] == isa
    worst = 0.0
    for case, path in report['cases'].items():
        got, ref = np.load(path), np.load(osp.join(single_ops[case], 'ref.npy'))
        assert got.shape == ref.shape, case
        if case.endswith('_integer'):
            np.testing.assert_array_equal(got, ref, err_msg=case)
        else:
            err = np.abs(got - ref).max() / np.abs(ref).max()
            worst = max(worst, err)
            assert err <= 1e-6, (case, err)
    print(f'{isa}: worst relative error of the fused epilogue vs float64 {worst:.2e}')


def test_forced_path_the_cpu_lacks_is_a_clear_error(single_ops):
    # MMBINARY_BCONV_HIDE_ISA makes the kernel core report the path as missing from the CPU
    env = {'MMBINARY_BCONV_ISA': 'avx512', 'MMBINARY_BCONV_HIDE_ISA': 'avx512'}
    done = _run_cases(single_ops, env=env)
    assert done.returncode != 0
    assert "'avx512'" in done.stderr and 'it has' in done.stderr, done.stderr[-2000:]


_LOAD_AND_RUN = r"""
import sys
import numpy as np
from mmbinary.deploy import DeployedModel
model = DeployedModel(sys.argv[1], threads=1)
np.save(sys.argv[3], model(np.load(sys.argv[2])))
print('REPR ' + repr(model))
print('KERNEL', model.binary_kernel, model.binary_isa)
"""

ROUND_TRIP = {
    'sbpn18_binary_head': (
        'configs/sbpn/td-hm_sbpn-bireal18-bbc-binhead_8xb64-210e_coco-256x192.py',
        (128, 96),
    ),
    'adabin_resnet20': ('configs/digits/resnet20-adabin_1xb128-12e_digits-8px.py', None),
}


@pytest.fixture(scope='module')
def round_trip(tmp_path_factory):
    """``name -> (export folder, PyTorch eval model, input)`` of the ROUND_TRIP networks."""
    exports = {}
    for name, (path, size) in ROUND_TRIP.items():
        tmp = tmp_path_factory.mktemp(name)
        cfg = Config.fromfile(osp.join(ROOT, path))
        model, checkpoint = _checkpoint(cfg, tmp)
        out = str(tmp / 'export')
        meta = export_model(
            cfg, checkpoint, 'openvino', out, input_shape=size, binary_kernel='native', log=print
        )
        shape = meta['input_shape']
        x = torch.randn(2, *shape[1:], generator=torch.Generator().manual_seed(1))
        np.save(tmp / 'x.npy', x.numpy())
        exports[name] = dict(out=out, meta=meta, model=model, x=str(tmp / 'x.npy'), tmp=tmp)
    return exports


@pytest.mark.parametrize('name', sorted(ROUND_TRIP))
def test_ir_round_trip_in_a_fresh_process_matches_pytorch(name, round_trip):
    case = round_trip[name]
    out, meta = case['out'], case['meta']
    assert meta['binary_kernel'] == 'native' and meta['backend_binary_convs'] > 0
    with open(osp.join(out, 'deploy.json')) as f:
        assert json.load(f)['binary_kernel'] == 'native'
    ops = _ops(osp.join(out, 'model.xml'))
    assert 'BinaryConvolution' not in ops
    assert len(ops['MMBinaryConv']) == meta['backend_binary_convs']
    with torch.no_grad():
        ref = InferenceNet(case['model'])(torch.from_numpy(np.load(case['x']))).numpy()
    y = str(case['tmp'] / 'y.npy')
    done = _python(_LOAD_AND_RUN, out, case['x'], y)
    assert done.returncode == 0, done.stderr[-3000:]
    assert 'binary_kernel=native (' in done.stdout, done.stdout
    got = np.load(y)
    assert got.shape == ref.shape
    err = np.abs(got - ref).max() / np.abs(ref).max()
    print(f'{name}: max |native - PyTorch| / max |PyTorch| = {err:.2e}')
    assert err <= REL_TOL


def _edges(xml):
    """``[(from type, to type)]`` of the IR's edges."""
    import xml.etree.ElementTree as ET

    root = ET.parse(xml).getroot()
    kind = {layer.get('id'): layer.get('type') for layer in root.iter('layer')}
    return [(kind[e.get('from-layer')], kind[e.get('to-layer')]) for e in root.iter('edge')]


def test_native_nodes_chain_in_nhwc_without_transposes_between_them(round_trip):
    """Bi-Real blocks pass NHWC from node to node; a Transpose only where a real layer
    borders (OpenVINO folds those into its nhwc layout)."""
    xml = osp.join(round_trip['sbpn18_binary_head']['out'], 'model.xml')
    ops, edges = _ops(xml), _edges(xml)
    assert {a['layout'] for a in ops['MMBinaryConv']} == {'NHWC'}
    assert ('MMBinaryConv', 'MMBinaryConv') in edges  # residual stream node to node
    assert ('Transpose', 'Transpose') not in edges  # every NHWC -> NCHW -> NHWC pair cancelled
    into = [a for a, b in edges if b == 'Transpose']
    # Transposes in: after the stem and around the three real downsample / upsample paths
    assert 'MMBinaryConv' in into and len(ops['Transpose']) < len(ops['MMBinaryConv'])


@pytest.mark.parametrize('name', ['sbpn18_binary_head', 'adabin_resnet20'])
def test_chained_nodes_pass_packed_bits(round_trip, name):
    """A node whose input is another node's output reads that node's packed bits (written in
    its epilogue at the reader's threshold), not the floats; the round trip checks the numbers."""
    import xml.etree.ElementTree as ET

    root = ET.parse(osp.join(round_trip[name]['out'], 'model.xml')).getroot()
    layers = {layer.get('id'): layer for layer in root.iter('layer')}
    native = {
        i: dict(lay.find('data').attrib)
        for i, lay in layers.items()
        if lay.get('type') == 'MMBinaryConv'
    }
    chained = 0
    for edge in root.iter('edge'):
        src, dst = edge.get('from-layer'), edge.get('to-layer')
        if dst not in native or edge.get('to-port') != '0':
            continue
        if src not in native:  # from a real layer: floats
            assert native[dst]['bits_input'] == '0'
            continue
        reader, producer = native[dst], native[src]
        assert reader['bits_input'] == '1' and producer['bits_output'] == '1'
        assert float(producer['bits_threshold']) == float(reader['threshold'])
        port = layers[src].find(f"output/port[@id='{edge.get('from-port')}']")
        assert port.get('precision') == 'U8'  # the second output, the bits
        chained += 1
    assert chained >= len(native) // 2


@pytest.mark.parametrize('same_threshold', [True, False])
def test_chain_bits_only_where_the_readers_share_one_threshold(same_threshold):
    """A -> (B, C): with one threshold both readers take A's bits; with two, floats stay (a
    producer writes one set of bits). The outputs equal the float graph's bit for bit."""
    import openvino as ov

    factory = openvino_ext.node_factory()
    layers = []
    for i, t in enumerate([0.0, 0.25, 0.25 if same_threshold else -0.5]):
        deployed, _ = _layer(('conv2d', 64, 64, 3, 1, 1, 1, 1, 'ste'), seed=i)
        deployed.threshold = t
        layers.append(deployed)
    x = np.random.default_rng(0).standard_normal((1, 9, 7, 64)).astype(np.float32)

    def build():
        param = ov.opset13.parameter(list(x.shape), ov.Type.f32)
        a = ov_backend._native_node(factory, param.output(0), layers[0], layout='NHWC')
        b, c = (
            ov_backend._native_node(factory, a.output(0), layer, layout='NHWC')
            for layer in layers[1:]
        )
        return ov.Model([b.output(0), c.output(0)], [param])

    plain, chained = build(), build()
    readers = ov_backend.chain_bits(chained)
    assert readers == (2 if same_threshold else 0)
    twins = build()  # readers of one name cannot be told apart: left as they are
    for op in twins.get_ordered_ops():
        if (
            op.get_type_name() == 'MMBinaryConv'
            and op.input_value(0).get_node().get_type_name() != 'Parameter'
        ):
            op.set_friendly_name('twin')
    assert ov_backend.chain_bits(twins) == 0
    kinds = {
        op.get_friendly_name(): op.get_attributes()
        for op in chained.get_ordered_ops()
        if op.get_type_name() == 'MMBinaryConv'
    }
    assert sorted(a['bits_input'] for a in kinds.values()) == (
        [0, 1, 1] if same_threshold else [0, 0, 0]
    )
    core = ov.Core()
    core.add_extension(openvino_ext.library_path())
    want = list(core.compile_model(plain, 'CPU')(x).values())
    got = list(core.compile_model(chained, 'CPU')(x).values())
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_ir_without_the_newer_attributes_still_loads(tmp_path):
    """An IR written before bits_* and residual_upsample existed reads with their defaults
    (floats in and out, a full-size residual) and gives the same outputs."""
    import re

    import openvino as ov

    deployed, _ = _layer(FORMS['c65_k3_s2_p2_d2'], seed=3)
    x = np.random.default_rng(3).standard_normal((1, 11, 10, 65)).astype(np.float32)
    param = ov.opset13.parameter(list(x.shape), ov.Type.f32)
    node = ov_backend._native_node(
        openvino_ext.node_factory(), param.output(0), deployed, layout='NHWC'
    )
    ov.save_model(ov.Model([node.output(0)], [param]), str(tmp_path / 'new.xml'))
    text = (tmp_path / 'new.xml').read_text()
    old = re.sub(r' (bits_input|bits_output|bits_threshold|residual_upsample)="[^"]*"', '', text)
    assert old != text and 'bits_input' not in old and 'residual_upsample' not in old
    (tmp_path / 'old.xml').write_text(old)
    (tmp_path / 'old.bin').write_bytes((tmp_path / 'new.bin').read_bytes())
    core = ov.Core()
    core.add_extension(openvino_ext.library_path())
    outs = [core.compile_model(str(tmp_path / f'{v}.xml'), 'CPU')(x)[0] for v in ('new', 'old')]
    np.testing.assert_array_equal(outs[1], outs[0])


def test_upsampled_shortcuts_of_binary_deconvs_are_read_small(round_trip):
    """The binary head's shortcut ``up2(x)`` (and ``up2(BN(conv1x1(x)))``) is no Interpolate
    node: each transposed conv's node reads it at half size (residual_upsample=2); the round
    trip checks the numbers."""
    ops = _ops(osp.join(round_trip['sbpn18_binary_head']['out'], 'model.xml'))
    assert 'Interpolate' not in ops
    deconvs = [a for a in ops['MMBinaryConv'] if a['input_dilations'] != '1, 1']
    assert len(deconvs) == 3
    assert all(a['residual_upsample'] == '2' and a['has_residual'] == '1' for a in deconvs)
    assert {a['residual_upsample'] for a in ops['MMBinaryConv'] if a not in deconvs} == {'1'}


def test_maxout_of_adabin_blocks_is_fused_into_the_nodes(round_trip):
    """fuse_blocks takes the shortcut add and AdaBin's Maxout into every node (the round trip
    above checks the numbers): no elementwise activation is left between them."""
    ops = _ops(osp.join(round_trip['adabin_resnet20']['out'], 'model.xml'))
    attrs = ops['MMBinaryConv']
    fused = [a for a in attrs if a['has_pos_slope'] == '1']
    assert fused and all(a['has_prelu'] == '1' and a['has_residual'] == '1' for a in fused)
    assert len(fused) == len(attrs)  # every binary conv of this net sits in a Maxout block
    assert 'Relu' not in ops and 'Negative' not in ops


def test_auto_kernel_picks_native_only_on_the_avx512_path(tmp_path):
    isa = openvino_ext.kernel_isa()
    kernel, why = ov_backend.auto_binary_kernel(log=lambda s: None)
    assert kernel == ('native' if isa.split('+')[0] == 'avx512' else 'openvino') and isa in why
    assert ov_backend.auto_binary_kernel(exact_int8=True)[0] == 'openvino'
    deployed, real = _layer(FORMS['c3_k3_p1'], seed=0)
    logged = []
    written = ov_backend.export(
        _Block(deployed, real).eval(),
        torch.randn(1, 3, 9, 7),
        str(tmp_path),
        binary_kernel='auto',
        log=logged.append,
    )
    assert written['binary_kernel'] == kernel
    assert f'binary kernel auto: {kernel} ({why})' in logged
    ops = _ops(str(tmp_path / 'model.xml'))
    assert ('MMBinaryConv' in ops) == (kernel == 'native')


def test_unknown_layout_is_refused_by_the_op():
    import openvino as ov

    deployed, _ = _layer(next(iter(FORMS.values())), seed=0)
    param = ov.opset13.parameter([1, deployed.code.shape[1], 5, 5], ov.Type.f32)
    with pytest.raises(Exception, match='layout must be NCHW or NHWC, got CHWN'):
        ov_backend._native_node(
            openvino_ext.node_factory(), param.output(0), deployed, layout='CHWN'
        )
    with pytest.raises(ValueError, match="layout must be 'NCHW' or 'NHWC', got 'nhwc'"):
        ov_backend.rewrite_native(None, [], layout='nhwc')


def test_deployed_model_says_which_kernel_runs(round_trip):
    model = DeployedModel(round_trip['adabin_resnet20']['out'], threads=1)
    assert model.binary_kernel == 'native'
    assert set(model.binary_isa.split('+')) <= set(_supported_isas())
    assert f'binary_kernel=native ({model.binary_isa})' in repr(model)


_TIMED = r"""
import sys
import numpy as np
from mmbinary.deploy import DeployedModel
from mmbinary.ops import openvino_ext
model = DeployedModel(sys.argv[1], threads=1)
x = np.load(sys.argv[2])[:1]
ys = [model(x) for _ in range(12)]
print('ISA', openvino_ext.kernel_isa())
print('COUNTS', *openvino_ext.timed_counts())
print('SAME', all(np.array_equal(y, ys[0]) for y in ys))
"""


@pytest.mark.parametrize('timed', ['1', '0'])
def test_auto_times_amx_against_avx512_per_node(round_trip, timed):
    """With auto on an AMX CPU each node runs avx512 and amx alternately on its first calls,
    then keeps the faster: every node settles once, and every call's output is the same bits.
    Elsewhere (or with MMBINARY_BCONV_TIMED=0) one path runs and nothing is timed."""
    case = round_trip['sbpn18_binary_head']
    env = {'MMBINARY_BCONV_ISA': 'auto', 'MMBINARY_BCONV_TIMED': timed}
    done = _python(_TIMED, case['out'], case['x'], env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = dict(line.split(' ', 1) for line in done.stdout.splitlines() if ' ' in line)
    nodes = len(_ops(osp.join(case['out'], 'model.xml'))['MMBinaryConv'])
    counts = [int(c) for c in lines['COUNTS'].split()]
    assert lines['SAME'] == 'True'
    if timed == '1' and 'amx' in _supported_isas() and 'avx512' in _supported_isas():
        assert lines['ISA'] == 'avx512+amx'
        assert sum(counts) == nodes, (counts, nodes)  # each node chose once
        print(f'timed choice: {counts[0]} nodes kept avx512, {counts[1]} took amx')
    else:
        assert '+' not in lines['ISA'] and counts == [0, 0]


def test_native_export_where_the_extension_cannot_load_names_the_fix(round_trip, tmp_path):
    env = {'MMBINARY_BCONV_CSRC': str(tmp_path / 'no_kernel_here')}
    done = _python(_LOAD_AND_RUN, round_trip['adabin_resnet20']['out'], 'x', 'y', env=env)
    assert done.returncode != 0
    assert 'exported with --binary-kernel native' in done.stderr
    assert 'no mmb_bconv.h' in done.stderr and 'Re-export the model with' in done.stderr
    assert '--binary-kernel openvino' in done.stderr
    env = {'MMBINARY_BCONV_ISA': 'avx512', 'MMBINARY_BCONV_HIDE_ISA': 'avx512'}
    done = _python(_LOAD_AND_RUN, round_trip['adabin_resnet20']['out'], 'x', 'y', env=env)
    assert (
        done.returncode != 0 and "'avx512'" in done.stderr and 'MMBINARY_BCONV_ISA' in done.stderr
    )


def test_export_falls_back_to_binary_convolution_when_it_cannot_build(tmp_path, monkeypatch):
    monkeypatch.setenv('MMBINARY_BCONV_CSRC', str(tmp_path / 'no_kernel_here'))
    deployed, _ = _layer(FORMS['c13_k1_p0'], seed=0)
    messages = []
    x = _input((1, 13, 5, 4), seed=0)
    written = ov_backend.export(
        nn.Sequential(deployed).eval(),
        x,
        str(tmp_path),
        binary_kernel='native',
        log=messages.append,
    )
    assert written['binary_kernel'] == 'openvino' and written['binary_convs'] == 1
    assert any('native binary kernel unavailable' in m and 'no mmb_bconv.h' in m for m in messages)
    ops = _ops(str(tmp_path / 'model.xml'))
    assert 'MMBinaryConv' not in ops and 'BinaryConvolution' in ops


def test_coco_tiny_sbpn18_native_keypoints_match_pytorch(coco_tiny_sbpn18, coco_tiny, tmp_path):
    """The trained SBPN-18 on the real images, as test_coco_tiny_export checks the other back
    ends (the same bounds: sign flips of pre-sign values within float rounding of 0)."""
    from mmpose.apis import inference_topdown, init_model

    from mmbinary.apis import init_deployed_pose_model
    from mmbinary.deploy.exporter import calibration_inputs

    from .test_coco_tiny_export import _boxes, export_tool

    os.environ['MMBINARY_COCO_TINY'] = osp.join(coco_tiny, '')
    config, checkpoint = coco_tiny_sbpn18['config'], coco_tiny_sbpn18['checkpoint']
    out = str(tmp_path / 'openvino_native')
    export_tool.main(
        [config, checkpoint, '--out', out, '--backend', 'openvino', '--binary-kernel', 'native']
    )
    assert 'BinaryConvolution' not in _ops(osp.join(out, 'model.xml'))
    model = init_model(config, checkpoint, device='cpu')
    inputs = np.concatenate(calibration_inputs(Config.fromfile(config), model, 12))
    with torch.no_grad():
        ref = InferenceNet(model.eval())(torch.from_numpy(inputs)).numpy()
    deployed = DeployedModel(out, threads=1)
    assert deployed.binary_kernel == 'native'
    diff = np.abs(deployed(inputs) - ref) / np.abs(ref).max()
    off = (diff > 1e-3).mean()
    print(f'{deployed!r}: max |heatmap - PyTorch| / max = {diff.max():.2e}, off > 1e-3: {off:.2e}')
    assert diff.max() <= 0.1 and off <= 0.05
    ours_model = init_deployed_pose_model(out, threads=1)
    deltas = []
    for image, boxes in _boxes(coco_tiny):
        ours = inference_topdown(ours_model, image, boxes)
        theirs = inference_topdown(model, image, boxes)
        assert len(ours) == len(theirs) == len(boxes)
        for a, b in zip(ours, theirs):
            delta = np.abs(a.pred_instances.keypoints - b.pred_instances.keypoints).max(-1)
            deltas.append(delta.ravel())
    deltas = np.concatenate(deltas)
    within = (deltas <= 0.5).mean()
    print(f'native: keypoints within 0.5 px {within:.3f}, max {deltas.max():.2f} px')
    assert within >= 0.95
