import os.path as osp
import warnings

import pytest
from packaging.requirements import Requirement

from mmbinary.utils import dependency
from mmbinary.utils.dependency import MissingDependencyError, check_dependencies, find_problems

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# A complete environment as a cluster user has it: full mmcv, opencv-python.
GOOD = {'mmcv': '2.1.0', 'mmengine': '0.10.4', 'mmpose': '1.3.0', 'torchvision': '0.16.2'}


def test_complete_environment_passes_silently():
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        check_dependencies(dict(GOOD, **{'opencv-python': '4.9.0.80'}))
        lite = {k: v for k, v in GOOD.items() if k != 'mmcv'}
        check_dependencies(dict(lite, **{'mmcv-lite': '2.1.0', 'opencv-python-headless': '4.11'}))


def test_the_installed_environment_passes():
    errors, _ = find_problems(dependency.installed_versions(dependency.all_names()))
    assert errors == []


@pytest.mark.parametrize(
    'missing, how',
    [
        ('mmcv', 'mim install mmcv==2.1.0'),
        ('mmengine', 'pip install mmengine==0.10.7'),
        ('mmpose', 'pip install --no-deps mmpose==1.3.2'),
        ('torchvision', 'matches your torch'),
    ],
)
def test_missing_package_is_named_with_its_install_command(missing, how):
    installed = {k: v for k, v in GOOD.items() if k != missing}
    with pytest.raises(MissingDependencyError) as info:
        check_dependencies(installed)
    message = str(info.value)
    assert f'{missing} is not installed' in message
    assert how in message
    assert message.count('\n  - ') == 1  # only the missing one is reported


def test_mmcv_lite_is_offered_for_cpu_only_use():
    with pytest.raises(MissingDependencyError, match=r'pip install mmcv-lite==2\.1\.0. for CPU'):
        check_dependencies({k: v for k, v in GOOD.items() if k != 'mmcv'})


@pytest.mark.parametrize(
    'dist, version',
    [('mmcv', '2.0.1'), ('mmcv', '2.2.0'), ('mmengine', '0.10.3'), ('mmpose', '1.2.0')],
)
def test_out_of_range_version_is_named_with_the_range(dist, version):
    with pytest.raises(MissingDependencyError) as info:
        check_dependencies(dict(GOOD, **{dist: version}))
    assert f'{dist} {version} is installed, mmbinary needs {dist}>=' in str(info.value)


def test_every_problem_is_reported_at_once():
    with pytest.raises(MissingDependencyError) as info:
        check_dependencies({'mmcv': '2.0.0'})
    message = str(info.value)
    assert message.count('\n  - ') == 4
    for name in ('mmcv 2.0.0', 'mmengine is not', 'mmpose is not', 'torchvision is not'):
        assert name in message


@pytest.mark.parametrize(
    'pair',
    [('mmcv', 'mmcv-lite'), ('opencv-python', 'opencv-python-headless')],
)
def test_two_flavours_of_one_package_warn(pair):
    installed = dict(GOOD, **dict.fromkeys(pair, '2.1.0'))
    with pytest.warns(RuntimeWarning, match=f'{pair[0]} 2.1.0 and {pair[1]} 2.1.0 are installed'):
        check_dependencies(installed)


def test_mminstall_txt_matches_the_checked_ranges():
    """requirements/mminstall.txt (read by setup.py's `mim` extra) and the import check agree."""
    with open(osp.join(ROOT, 'requirements', 'mminstall.txt')) as f:
        lines = [line.split('#')[0].strip() for line in f]
    in_file = {(r.name, str(r.specifier)) for r in map(Requirement, filter(None, lines))}
    checked = {
        (package, str(Requirement(package + spec).specifier))
        for package, _, spec, _ in dependency.MMINSTALL
        if spec is not None
    }
    assert in_file == checked


def test_runtime_txt_installs_no_flavoured_package():
    """setup.py's install_requires never names a package the user picks the flavour of."""
    with open(osp.join(ROOT, 'requirements', 'runtime.txt')) as f:
        lines = [line.split('#')[0].strip() for line in f]
    names = {Requirement(line).name.lower() for line in lines if line}
    flavoured = {d for _, dists, _, _ in dependency.MMINSTALL for d in dists}
    flavoured |= {d for group in dependency.EXCLUSIVE_FLAVOURS for d in group}
    assert names and not names & flavoured


def test_check_env_lists_what_it_finds_and_fails_on_two_flavours(monkeypatch, capsys):
    from mmbinary.utils import check_env

    found = dict(GOOD, **{'opencv-python': '4.9.0.80'})
    monkeypatch.setattr(check_env, 'installed_versions', lambda names: found)
    assert check_env.main() == 0
    out = capsys.readouterr().out
    assert 'mmcv 2.1.0\n' in out and 'opencv-python 4.9.0.80\n' in out and 'error' not in out

    found['opencv-python-headless'] = '4.9.0.80'
    assert check_env.main() == 1
    assert 'error: opencv-python 4.9.0.80 and opencv-python-headless' in capsys.readouterr().out
