"""Regenerate the web app's screenshots in docs/ (a maintainer runs this; tests never write there).

Starts ``faceprint serve`` on a temporary copy of a gallery enrolled from the shared photos (and
a small photo library), drives Debian's chromium through each page with real photos, and saves a
small palette PNG of each page as ``docs/web-PAGE.png``::

    python scripts/screenshots.py --data ../shared/data [--chromium /usr/bin/chromium]

Needs playwright (``pip install playwright``; the browser is the system's chromium, nothing is
downloaded) and the shared data. Paths in the pictures are the temporary folder's, so the
library page shows ``photos`` rather than anyone's home.
"""

from __future__ import annotations

import argparse
import io
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 150_000  # bytes per PNG
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(gallery: Path, library: Path | None, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = free_port()
    args = [sys.executable, "-m", "faceprint", "serve", "--gallery", str(gallery)]
    args += ["--port", str(port), "--workers", "1"] + (
        ["--library", str(library)] if library else []
    )
    proc = subprocess.Popen(args, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(f"the server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.3)
    raise SystemExit("the server did not start")


def save(page: object, name: str) -> Path:
    """A palette PNG of the page's viewport, at most LIMIT bytes, as docs/NAME.png."""
    from PIL import Image

    raw = page.screenshot(full_page=False)  # type: ignore[attr-defined]
    image = Image.open(io.BytesIO(raw)).convert("RGB")
    path = ROOT / "docs" / f"{name}.png"
    for width, colours in ((1200, 128), (1000, 64), (800, 48)):
        small = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
        small.quantize(colors=colours, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
        if path.stat().st_size <= LIMIT:
            break
    print(f"{path.relative_to(ROOT)}: {path.stat().st_size} bytes")
    return path


def shoot(url: str, lib_url: str, photos: Path, video: Path, chromium: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=120_000)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(f"{url}/lookalike")
        page.set_input_files("#main input[type=file]", str(photos / "obama.jpg"))
        page.locator(".face-card").first.wait_for()
        page.wait_for_load_state("networkidle")
        save(page, "web-lookalike")
        page.goto(f"{url}/verify")
        page.set_input_files("#main input[type=file] >> nth=0", str(photos / "obama.jpg"))
        page.set_input_files("#main input[type=file] >> nth=1", str(photos / "obama2.jpg"))
        page.get_by_role("button", name="Compare").click()
        page.locator(".verdict").wait_for()
        save(page, "web-verify")
        page.goto(f"{url}/identify")
        page.set_input_files("#main input[type=file]", str(photos / "two_people.jpg"))
        page.locator("table.grid tbody tr").first.wait_for()
        page.locator(".overlay .face").first.focus()
        save(page, "web-identify")
        page.goto(f"{url}/family")
        files = page.locator("#main input[type=file]")
        files.nth(0).set_input_files(str(photos / "obama2.jpg"))
        files.nth(1).set_input_files(str(photos / "obama.jpg"))
        files.nth(2).set_input_files(str(photos / "biden.jpg"))
        page.get_by_label("Relative 1: name").fill("Barack")
        page.get_by_label("Relative 2: name").fill("Joe")
        page.get_by_role("button", name="Compare").click()
        page.locator(".verdict").wait_for()
        save(page, "web-family")
        page.goto(f"{url}/people")
        page.get_by_role("button", name="Open obama").click()
        page.locator(".person .templates li").first.wait_for()
        page.wait_for_load_state("networkidle")
        save(page, "web-people")
        page.goto(f"{url}/video")
        page.set_input_files("#main input[type=file]", str(video))
        page.get_by_label("Detect faces on every N-th frame").fill("6")
        page.get_by_role("button", name="Find who is on screen").click()
        page.locator("svg.timeline").wait_for(timeout=180_000)
        page.locator("svg.timeline").scroll_into_view_if_needed()
        save(page, "web-video")
        page.goto(f"{lib_url}/library")
        page.get_by_role("button", name="Scan for new photos").click()
        page.locator(".people-grid .person-card").first.wait_for(timeout=120_000)
        page.locator(".people-grid .person-card").first.click()
        page.locator("section.group").get_by_label("Who is this?").fill("Grandpa Barack")
        page.get_by_role("button", name="Name them").click()
        page.locator("section.group h2", has_text="Grandpa Barack").wait_for()
        page.wait_for_load_state("networkidle")
        page.evaluate("window.scrollTo(0, 0)")
        save(page, "web-library")
        browser.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args(argv)
    from faceprint.gallery import Gallery
    from faceprint.library import Library
    from faceprint.pipeline import FaceAnalyzer

    photos = args.data / "photos" / "face_recognition"
    with tempfile.TemporaryDirectory(prefix="faceprint-shots-") as tmp:
        base = Path(tmp)
        with Gallery.create(base / "gallery", "dlib") as gallery:
            gallery.enroll_folders(photos / "knn_examples" / "train", FaceAnalyzer("dlib"))
        tree = base / "photos"
        for person in ("obama", "biden"):
            shutil.copytree(photos / "knn_examples" / "train" / person, tree / person)
        for name in ("obama.jpg", "obama2.jpg", "biden.jpg", "two_people.jpg"):
            shutil.copy(photos / name, tree / name)
        Library.create(base / "library", pack="dlib", root=tree).close()
        proc, url = serve(base / "gallery", None, base / "server.log")
        lib_proc, lib_url = serve(base / "gallery-lib", base / "library", base / "lib.log")
        try:
            shoot(
                url, lib_url, photos, args.data / "video" / "short_hamilton_clip.mp4", args.chromium
            )
        finally:
            for p in (proc, lib_proc):
                p.terminate()
                p.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
