"""``python -m mmbinary.ops.openvino_ext [--strict] [--force]``: build the MMBinaryConv extension.

For the set-up: prints the library path and the ISA the op picks here, or why it cannot be
built (then exports fall back to OpenVINO's BinaryConvolution); exits 1 on failure only with
``--strict``.
"""

import argparse
import sys

from . import NativeKernelUnavailable, build, core_dir, kernel_isa, library_path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description='Build the MMBinaryConv OpenVINO extension')
    parser.add_argument('--strict', action='store_true', help='exit 1 if it cannot be built')
    parser.add_argument('--force', action='store_true', help='rebuild even if cached')
    args = parser.parse_args(argv)
    try:
        if args.force:
            build(core_dir(), force=True, log=print)
        path = library_path(log=print)
        print(f'MMBinaryConv extension: {path} (kernel ISA here: {kernel_isa()})')
    except (NativeKernelUnavailable, OSError) as e:
        print(
            f'MMBinaryConv extension unavailable, --binary-kernel native exports will fall back '
            f'to BinaryConvolution: {e}',
            file=sys.stderr,
        )
        return 1 if args.strict else 0
    return 0


if __name__ == '__main__':
    sys.exit(main())
