from __future__ import annotations

import pytest

import faceprint
from faceprint.errors import ModelError
from faceprint.packs import DEFAULT_PACK, get_pack, list_packs


def test_default_pack_is_registered_and_complete() -> None:
    assert DEFAULT_PACK in list_packs()
    pack = get_pack()
    assert pack.dim == 128 and pack.metric == "cosine"
    assert 0.0 < pack.threshold < 1.0 and pack.threshold_source
    assert pack.licence and pack.crop.size == 150
    for role in pack.files:
        assert pack.file(role).is_file()
    summary = pack.summary()
    assert summary["threshold"] == pack.threshold and "licence" in summary


def test_unknown_pack_lists_known_ones() -> None:
    with pytest.raises(ModelError, match=r"known packs: .*dlib"):
        get_pack("no-such-pack")


def test_unknown_role_is_clear() -> None:
    with pytest.raises(ModelError, match="no 'nothing' file"):
        get_pack().file("nothing")


def test_public_api_is_curated() -> None:
    import inspect

    public = {
        n
        for n in dir(faceprint)
        if not n.startswith("_") and not inspect.ismodule(getattr(faceprint, n))
    }
    extra = public - set(faceprint.__all__)
    assert not extra, f"public names missing from __all__: {sorted(extra)}"
    for name in faceprint.__all__:
        assert hasattr(faceprint, name), name


def test_import_loads_no_model() -> None:
    import subprocess
    import sys

    code = "import sys, faceprint; print('dlib' in sys.modules, 'onnxruntime' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
