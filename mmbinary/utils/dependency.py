"""Import-time check of the packages that ``pip install mmbinary`` deliberately does not install.

``requirements/runtime.txt`` lists only what pip may install safely into an existing
OpenMMLab environment. The packages below are left to the user, as MMPose does with its
``requirements/mminstall.txt``, because each comes in flavours that pip must not swap:

* ``mmcv``: full ``mmcv`` (compiled CUDA ops, usually installed with ``mim``) or ``mmcv-lite``
  (no compiled ops, enough for CPU use): two distributions of the same ``mmcv`` package, so
  installing one over the other rewrites its files, and uninstalling either later breaks both;
* ``mmengine``: ``mmengine`` or ``mmengine-lite``, same story;
* ``mmpose``: must be installed with ``--no-deps`` on current Python (its ``chumpy`` dependency
  does not build, and is never imported);
* ``torchvision`` (imported by mmpretrain, which does not declare it): a prerequisite like torch,
  since it must be the build that matches the installed torch (an unpinned
  ``pip install torchvision`` replaces torch with the newest release).

:func:`check_dependencies` runs on ``import mmbinary`` and raises one
:class:`MissingDependencyError` naming everything that is missing or out of range, with the
command that installs it. The ranges are those of ``requirements/mminstall.txt`` (a test keeps
the two equal; torchvision is only checked here); the lower ends are the versions of the
second-environment test (``tests/test_install/test_existing_environment.py``), the upper ends
those of the main environment (``requirements/lock.txt``).
"""

import warnings
from importlib import metadata

from packaging.specifiers import SpecifierSet
from packaging.version import Version

#: ``(package, distributions that provide it, allowed versions, how to install it)``: those of
#: ``requirements/mminstall.txt`` in its order, then torchvision (``None``: any version).
MMINSTALL = (
    (
        'mmcv',
        ('mmcv', 'mmcv-lite'),
        '>=2.1.0,<2.2.0',
        '`mim install mmcv==2.1.0` (full mmcv, compiled CUDA ops), or '
        '`pip install mmcv-lite==2.1.0` for CPU-only use',
    ),
    (
        'mmengine',
        ('mmengine', 'mmengine-lite'),
        '>=0.10.4,<0.11',
        '`pip install mmengine==0.10.7`',
    ),
    (
        'mmpose',
        ('mmpose',),
        '>=1.3.0,<1.4',
        '`pip install --no-deps mmpose==1.3.2` (--no-deps: its chumpy dependency does not build; '
        'mmbinary installs the dependencies mmpose really imports)',
    ),
    (
        'torchvision',
        ('torchvision',),
        None,
        'the torchvision release that matches your torch, e.g. '
        '`pip install torchvision==0.16.2` for torch 2.1.2, `torchvision==0.29.1` for torch 2.14.1',
    ),
)

#: Distributions that each provide the same importable package: at most one may be installed.
EXCLUSIVE_FLAVOURS = (
    ('mmcv', 'mmcv-lite'),
    ('mmengine', 'mmengine-lite'),
    (
        'opencv-python',
        'opencv-python-headless',
        'opencv-contrib-python',
        'opencv-contrib-python-headless',
    ),
)


class MissingDependencyError(ImportError):
    """A package that mmbinary needs, and that pip does not install for it, is missing."""


def installed_versions(names):
    """Return ``{distribution: version}`` for those of ``names`` that are installed.

    Args:
        names (Iterable[str]): Distribution names, e.g. ``('mmcv', 'mmcv-lite')``.

    Returns:
        dict[str, str]: The installed ones with their versions.
    """
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def all_names():
    """Every distribution name that :func:`find_problems` looks at, each once."""
    names = [dist for _, dists, _, _ in MMINSTALL for dist in dists]
    names += [dist for group in EXCLUSIVE_FLAVOURS for dist in group]
    return tuple(dict.fromkeys(names))


def find_problems(installed):
    """Compare installed distributions with :data:`MMINSTALL` and :data:`EXCLUSIVE_FLAVOURS`.

    Args:
        installed (dict[str, str]): ``{distribution: version}`` of what is installed.

    Returns:
        tuple[list[str], list[str]]: ``(errors, warnings)``, one sentence each.

    Example:
        >>> installed = {'mmcv': '2.0.1', 'mmengine': '0.10.7', 'torchvision': '0.16.2'}
        >>> errors, _ = find_problems(installed)
        >>> for error in errors:
        ...     print(error[:59])
        mmcv 2.0.1 is installed, mmbinary needs mmcv>=2.1.0,<2.2.0:
        mmpose is not installed: install it with `pip install --no-
    """
    errors, notes = [], []
    for package, dists, spec, how in MMINSTALL:
        present = {d: installed[d] for d in dists if d in installed}
        if not present:
            errors.append(f'{package} is not installed: install it with {how}')
            continue
        if spec is None:
            continue
        for dist, version in present.items():
            if Version(version) not in SpecifierSet(spec):
                errors.append(
                    f'{dist} {version} is installed, mmbinary needs {package}{spec}: install {how}'
                )
    for group in EXCLUSIVE_FLAVOURS:
        present = [f'{d} {installed[d]}' for d in group if d in installed]
        if len(present) > 1:
            notes.append(
                f'{" and ".join(present)} are installed: they are flavours of one package and '
                "overwrite each other's files; uninstall all of them (`pip uninstall -y "
                f'{" ".join(d for d in group if d in installed)}`) and reinstall the one you want'
            )
    return errors, notes


def check_dependencies(installed=None):
    """Raise if a package of :data:`MMINSTALL` is missing or out of range; warn on clashes.

    Called by ``import mmbinary``. Two flavours of one package installed side by side (mmcv and
    mmcv-lite, opencv-python and opencv-python-headless, ...) give a :class:`RuntimeWarning`:
    the environment works until one of them is uninstalled or upgraded.

    Args:
        installed (dict[str, str], optional): ``{distribution: version}``; read from the
            installed distributions' metadata when None.

    Raises:
        MissingDependencyError: naming every missing or out-of-range package and how to
            install it.
    """
    if installed is None:
        installed = installed_versions(all_names())
    errors, notes = find_problems(installed)
    for note in notes:
        warnings.warn(note, RuntimeWarning, stacklevel=2)
    if errors:
        raise MissingDependencyError(
            'mmbinary cannot be imported; pip does not install these for it '
            '(requirements/mminstall.txt), so that the flavours already in your environment '
            'stay as they are:\n  - ' + '\n  - '.join(errors)
        )
