"""``python -m mmbinary.utils.check_env``: the flavoured packages found, and what is wrong.

Prints each of mmcv / mmcv-lite, mmengine / mmengine-lite, mmpose, torchvision and the OpenCV
flavours that is installed, with its version, then every problem :func:`find_problems` sees;
exits 1 if there is one (a missing package, a version out of range, two flavours of one package).
``tools/setup_env.sh`` runs it at the end of ``make setup``.
"""

from .dependency import all_names, find_problems, installed_versions


def main():
    installed = installed_versions(all_names())
    for name, version in installed.items():
        print(f'{name} {version}')
    errors, notes = find_problems(installed)
    for problem in errors + notes:
        print(f'error: {problem}')
    return 1 if errors or notes else 0


if __name__ == '__main__':
    raise SystemExit(main())
