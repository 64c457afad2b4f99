"""Optional stacks: a missing extra is one line naming it; the core imports none of them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from faceprint._optional import missing, require
from faceprint.errors import MissingDependencyError

pytestmark = pytest.mark.core

#: blocks the named modules (``sys.modules[name] = None`` makes ``import name`` fail), then runs
#: the CLI: the core install as far as these stacks go, in a fresh process
BLOCKED = (
    "import sys\n"
    "for m in sys.argv[1].split(','):\n"
    "    sys.modules[m] = None\n"
    "from faceprint.cli import main\n"
    "sys.argv = ['faceprint', *sys.argv[2:]]\n"
    "main()\n"
)
OPTIONAL = "fastapi,uvicorn,av,faiss,matplotlib,pillow_heif,pymilvus,httpx,ray"


def _cli_without(modules: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCKED, modules, *args], capture_output=True, text=True
    )


def test_require_names_the_extra() -> None:
    assert require("json").dumps([]) == "[]"
    with pytest.raises(MissingDependencyError, match=r'pip install "faceprint\[video\]"'):
        require("faceprint_no_such_module", extra="video", feature="faceprint video")
    err = missing("faiss.contrib", feature="index backend 'hnsw'")
    assert isinstance(err, ImportError)
    assert str(err) == (
        "index backend 'hnsw' needs the optional dependency 'faiss': "
        'pip install "faceprint[faiss]"'
    )


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["video", "screentime", "clip.mp4"], "video"),
        (["serve", "--gallery", "g"], "server"),
    ],
    ids=["video", "serve"],
)
def test_a_missing_extra_is_one_line(args: list[str], extra: str) -> None:
    done = _cli_without(OPTIONAL, *args)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f'pip install "faceprint[{extra}]"' in lines[0], done.stderr


def test_the_core_commands_load_no_optional_stack() -> None:
    probe = (
        "import sys\n"
        "import faceprint, faceprint.cli, faceprint.gallery, faceprint.evaluate.lfw\n"
        f"print(sorted(m for m in {OPTIONAL.split(',')!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_exact_search_without_faiss() -> None:
    probe = (
        "import sys; sys.modules['faiss'] = None\n"
        "import numpy as np\n"
        "from faceprint.index import create_index\n"
        "rows = np.eye(4, dtype=np.float32)\n"
        "ix = create_index('exact', 4); ix.add(np.arange(4), rows)\n"
        "r = ix.search(rows[2], 2); print(int(r.ids[0, 0]), float(r.scores[0, 0]))\n"
        "try:\n"
        "    create_index('hnsw', 4)\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.strip().splitlines()
    assert first == "2 1.0"
    assert second == "index backend 'hnsw' needs faiss: pip install \"faceprint[faiss]\""
