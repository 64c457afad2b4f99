"""Fuzz the image-loading boundary: :func:`faceprint.imageio.load_image` on untrusted bytes.

Every input must give an ``(H, W, 3)`` uint8 array or an :class:`~faceprint.errors.ImageError`;
anything else (another exception, a crash, a hang, memory blow-up) is a finding.

    python fuzz/fuzz_image.py --seconds 300
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Target, run

#: small enough that a fuzzed header cannot make one run allocate gigabytes
MAX_PIXELS = 4_000_000


def make_target() -> Target:
    import numpy as np

    from faceprint.errors import ImageError
    from faceprint.imageio import load_image

    def target(data: bytes) -> None:
        try:
            rgb = load_image(data, max_pixels=MAX_PIXELS)
        except ImageError as exc:
            if not str(exc).strip() or "\n" in str(exc).strip():
                raise AssertionError(f"unclear message: {exc!r}") from exc
            return
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise AssertionError(f"bad result {rgb.shape} {rgb.dtype}")

    return target


def seeds() -> list[bytes]:
    """One small valid file of every format faceprint reads (and a few odd modes)."""
    import numpy as np
    from PIL import Image

    rgb = Image.fromarray(np.random.default_rng(0).integers(0, 255, (24, 32, 3), np.uint8))
    out = []
    for fmt, img, kw in [
        ("JPEG", rgb, {"quality": 80}),
        ("PNG", rgb, {}),
        ("WEBP", rgb, {"quality": 80}),
        ("GIF", rgb.convert("P"), {}),
        ("BMP", rgb, {}),
        ("TIFF", rgb, {}),
        ("PNG", rgb.convert("LA"), {}),
        ("PNG", Image.new("I;16", (8, 8), 300), {}),
        ("JPEG", rgb.convert("CMYK"), {}),
        ("ICO", rgb, {}),
    ]:
        buf = io.BytesIO()
        img.save(buf, format=fmt, **kw)
        out.append(buf.getvalue())
    try:
        import pillow_heif

        buf = io.BytesIO()
        pillow_heif.from_pillow(rgb).save(buf, quality=50)
        out.append(buf.getvalue())
    except ImportError:
        pass
    return out


if __name__ == "__main__":
    sys.exit(run("image", make_target, seeds))
