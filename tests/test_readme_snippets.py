"""Every ```python block of README.md runs offline as written (row 6 of issue 10).

Each block runs in a fresh interpreter from the clone's root with the network disabled (any
socket connection raises), so a snippet that forgets ``import mmbinary`` or downloads pretrained
weights fails here. A block that sets ``_base_`` is a config: it is written to a file, loaded
with ``Config.fromfile``, and its model is built and initialised (``init_weights``), which is
where a pretrained ``init_cfg`` would download.
"""

import os
import os.path as osp
import re
import subprocess
import sys
import textwrap

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

OFFLINE = textwrap.dedent(
    """
    import socket

    def _offline(*args, **kwargs):
        raise OSError('network disabled: README snippets must run offline')

    socket.socket.connect = socket.create_connection = _offline
    """
)
BUILD_CONFIG = textwrap.dedent(
    """
    import sys
    import mmbinary  # noqa: F401  (the config's custom_imports would do the same)
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope

    cfg = Config.fromfile(sys.argv[1])
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    model = MODELS.build(cfg.model)
    model.init_weights()
    print('built', type(model).__name__)
    """
)


def python_blocks(text):
    """The ```python blocks of a Markdown text, with their first line numbers."""
    blocks = []
    for match in re.finditer(r'^```python\n(.*?)^```', text, flags=re.S | re.M):
        blocks.append((text[: match.start()].count('\n') + 2, match.group(1)))
    return blocks


with open(osp.join(ROOT, 'README.md')) as f:
    BLOCKS = python_blocks(f.read())


def test_the_readme_has_python_blocks():
    assert len(BLOCKS) >= 4
    assert python_blocks('a\n```python\nx = 1\n```\n```bash\nls\n```\n') == [(3, 'x = 1\n')]


@pytest.mark.parametrize('line,code', BLOCKS, ids=[f'README.md:{n}' for n, _ in BLOCKS])
def test_readme_python_block_runs_offline(line, code, tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    if re.search(r'^_base_\s*=', code, flags=re.M):
        config = tmp_path / 'snippet_config.py'
        config.write_text(code)
        script, args = OFFLINE + BUILD_CONFIG, [str(config)]
    else:
        script, args = OFFLINE + code, []
    proc = subprocess.run(
        [sys.executable, '-c', script, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f'README.md line {line}:\n{proc.stderr[-3000:]}'
