"""Export a trained binary model to OpenVINO IR, ONNX or the packed 1-bit file.

Example:
    python tools/deploy/export.py \
        configs/coco_tiny/td-hm_sbpn-bireal18_1xb4-60e_coco-tiny-256x192.py \
        work_dirs/sbpn18/epoch_60.pth --backend openvino --out work_dirs/sbpn18_ov

    # the binary convs on mmbinary's native 1-bit kernel (an OpenVINO extension op)
    python tools/deploy/export.py CONFIG CHECKPOINT --backend openvino \
        --binary-kernel native --out work_dirs/sbpn18_ov_native

The export folder holds ``deploy.json``, the config and the back end's files; load it with
``mmbinary.deploy.DeployedModel(DIR)`` or ``mmbinary.apis.init_deployed_pose_model(DIR)``.
"""

import argparse
import sys

from mmbinary.deploy.converter import DeployError
from mmbinary.deploy.exporter import BACKENDS, BINARY_KERNELS, export_model


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Export a binary model with real 1-bit weights')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint of that config (keys must match)')
    parser.add_argument('--backend', required=True, choices=BACKENDS, help='where to export to')
    parser.add_argument('--out', required=True, help='export folder (must not exist)')
    parser.add_argument(
        '--input-shape',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='static input size (default: the config)',
    )
    parser.add_argument(
        '--precision',
        default='f32',
        choices=['f32', 'bf16', 'int8'],
        help='precision of the real layers (bf16 / int8: openvino only; int8 calibrates with NNCF '
        "on the config's test set)",
    )
    parser.add_argument(
        '--exact-int8',
        action='store_true',
        help='openvino: binary convs as exact INT8 convs of +/-1 instead of BinaryConvolution',
    )
    parser.add_argument(
        '--binary-kernel',
        default='openvino',
        choices=BINARY_KERNELS,
        help="openvino: the 1-bit convs as OpenVINO's BinaryConvolution (default); native: as "
        "mmbinary's MMBinaryConv extension op (its native kernel, built on first use; falls "
        'back to BinaryConvolution with a message if it cannot be built); auto: the faster of '
        'the two on this machine (native where its kernel runs the AVX-512 path), logged',
    )
    parser.add_argument('--calib-num', type=int, default=20, help='images for int8 calibration')
    parser.add_argument('--force', action='store_true', help='replace an existing --out folder')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.precision != 'f32' and args.backend != 'openvino':
        sys.exit(
            f'error: --precision {args.precision} needs --backend openvino (got {args.backend})'
        )
    if args.binary_kernel != 'openvino' and args.backend != 'openvino':
        sys.exit(
            f'error: --binary-kernel {args.binary_kernel} needs --backend openvino '
            f'(got {args.backend})'
        )
    if args.binary_kernel == 'native' and args.exact_int8:
        sys.exit('error: --exact-int8 and --binary-kernel native are exclusive; choose one')
    # (--binary-kernel auto with --exact-int8 writes the exact-INT8 form: BinaryConvolution side)
    try:
        export_model(
            args.config,
            args.checkpoint,
            args.backend,
            args.out,
            input_shape=args.input_shape,
            precision=args.precision,
            exact_int8=args.exact_int8,
            binary_kernel=args.binary_kernel,
            force=args.force,
            calibration_num=args.calib_num,
        )
    except (DeployError, FileExistsError, FileNotFoundError, ImportError) as e:
        sys.exit(f'error: {e}')


if __name__ == '__main__':
    main()
