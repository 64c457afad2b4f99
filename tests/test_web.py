"""The web app in a real browser: Playwright driving Debian's chromium against the real server.

Each test uploads real photos through a page and checks what a user sees (a test run writes
nothing into the repository: the README's screenshots come from ``scripts/screenshots.py``).
Skipped with a reason when
``/usr/bin/chromium`` (``apt-get install chromium``) or the real data is missing.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

pytestmark = [pytest.mark.browser, pytest.mark.data]
expect = pytest.importorskip("playwright.sync_api", reason="pip install playwright").expect
expect.set_options(timeout=30_000)  # a shared 2-core CI machine answers slowly at times

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("FACEPRINT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the server at {url} did not answer within {timeout} s")


class Server:
    """``faceprint serve`` in a subprocess on 127.0.0.1 and a free port."""

    def __init__(self, gallery: Path, library: Path | None, log: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log.open("wb")
        args = [sys.executable, "-m", "faceprint", "serve", "--gallery", str(gallery)]
        args += ["--port", str(self.port), "--workers", "1"]
        args += ["--library", str(library)] if library else []
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            _wait_healthy(self.url, self.proc)
        except RuntimeError as err:
            self.stop()
            raise RuntimeError(f"{err}; log:\n{log.read_text(errors='replace')[-3000:]}") from None

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


@pytest.fixture(scope="module")
def chromium() -> str:
    if not Path(CHROMIUM).is_file():
        pytest.skip(
            f"no chromium at {CHROMIUM} (apt-get install chromium, or set FACEPRINT_CHROMIUM)"
        )
    return CHROMIUM


@pytest.fixture(scope="module")
def gallery_dir(photos: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from faceprint.gallery import Gallery
    from faceprint.pipeline import FaceAnalyzer

    path = tmp_path_factory.mktemp("web") / "gallery"
    gallery = Gallery.create(path, "dlib")
    try:
        gallery.enroll_folders(photos / "knn_examples" / "train", FaceAnalyzer("dlib"))
    finally:
        gallery.close()
    return path


@pytest.fixture(scope="module")
def server(
    chromium: str, gallery_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The server most tests share, on a copy of the gallery (the people and video tests
    enrol people in it; the other fixtures copy the pristine one)."""
    base = tmp_path_factory.mktemp("web-served")
    shutil.copytree(gallery_dir, base / "gallery")
    srv = Server(base / "gallery", None, base / "server.log")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def playwright(chromium: str) -> Iterator[Playwright]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Playwright, chromium: str) -> Iterator[Browser]:
    b = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
    yield b
    b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield pg
    context.close()
    if pg in EXPECTED_REFUSALS:  # the test provoked a 4xx; Chrome logs the failed request
        errors = [e for e in errors if not REFUSED.fullmatch(e)]
    assert not errors, f"errors in the page: {errors}"


#: pages whose test provokes refusals on purpose (see :func:`expect_refusals`)
EXPECTED_REFUSALS: set[Page] = set()
REFUSED = re.compile(r"Failed to load resource: the server responded with a status of 4\d\d .*")


def expect_refusals(page: Page) -> None:
    """This test makes the server refuse requests (4xx): Chrome's "Failed to load resource"
    console lines for them are not errors of the page (any other console error still is)."""
    EXPECTED_REFUSALS.add(page)


def assert_overlay_on_image(page: Page) -> None:
    """Every face overlay covers exactly its photo (so each box sits on its face)."""
    pairs = page.locator("figure.stage").evaluate_all(
        """stages => stages.map(s => {
            const a = s.querySelector('img').getBoundingClientRect();
            const b = s.querySelector('svg').getBoundingClientRect();
            return [a.left, a.top, a.width, a.height, b.left, b.top, b.width, b.height];
        })"""
    )
    assert pairs
    for r in pairs:
        assert all(abs(r[i] - r[i + 4]) < 1.5 for i in range(4)), r


def open_page(page: Page, server: Server, path: str) -> None:
    page.goto(server.url + path)
    page.wait_for_selector("main h1")


# --- the pages ----------------------------------------------------------------------------------


def test_lookalike_ranks_obama_first(page: Page, server: Server, photos: Path) -> None:
    open_page(page, server, "/")
    page.set_input_files("#main input[type=file]", str(photos / "obama.jpg"))
    page.wait_for_selector(".face-card")
    first = page.locator(".face-card").first
    assert first.locator(".match .name").first.inner_text() == "obama"
    assert "match above threshold" in first.inner_text()
    assert page.locator(".overlay .face").count() == 1
    assert_overlay_on_image(page)
    page.wait_for_load_state("networkidle")
    assert page.evaluate(
        "[...document.querySelectorAll('.match img')].every(i => i.complete && i.naturalWidth > 0)"
    )


def test_lookalike_webcam_photo(playwright: Playwright, chromium: str, server: Server) -> None:
    """The webcam path end to end with chromium's fake camera (a test pattern, no face)."""
    fake = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    cam_browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS + fake)
    try:
        page = cam_browser.new_page()
        open_page(page, server, "/")
        page.get_by_role("button", name="Use the webcam").click()
        page.get_by_role("button", name="Take photo").click()
        status = page.locator("p.status")
        status.filter(has_text="No face found").wait_for()
        page.get_by_role("button", name="Close webcam").click()
        assert page.locator("video").count() == 0
    finally:
        cam_browser.close()


def test_verify_same_person(page: Page, server: Server, photos: Path) -> None:
    open_page(page, server, "/verify")
    page.set_input_files("#main input[type=file] >> nth=0", str(photos / "obama.jpg"))
    page.set_input_files("#main input[type=file] >> nth=1", str(photos / "obama2.jpg"))
    page.get_by_role("button", name="Compare").click()
    verdict = page.locator(".verdict")
    verdict.wait_for()
    assert verdict.locator("h2").inner_text() == "Same person"
    assert_overlay_on_image(page)
    assert "Threshold" in verdict.inner_text()


def test_verify_different_people(page: Page, server: Server, photos: Path) -> None:
    open_page(page, server, "/verify")
    page.set_input_files("#main input[type=file] >> nth=0", str(photos / "obama.jpg"))
    page.set_input_files("#main input[type=file] >> nth=1", str(photos / "biden.jpg"))
    page.get_by_role("button", name="Compare").click()
    page.locator(".verdict").wait_for()
    assert page.locator(".verdict h2").inner_text() == "Different people"
    # photo A against an enrolled person instead of a second photo
    page.set_input_files("#main input[type=file] >> nth=1", [])
    page.get_by_label("compare photo A with this enrolled person").fill("obama")
    page.get_by_role("button", name="Compare").click()
    expect(page.locator(".verdict h2")).to_have_text("Same person")
    assert "obama" in page.locator(".verdict dl").inner_text()


def test_identify_names_both(page: Page, server: Server, photos: Path) -> None:
    open_page(page, server, "/identify")
    page.set_input_files("#main input[type=file]", str(photos / "two_people.jpg"))
    page.wait_for_selector("table.grid tbody tr")
    labels = page.locator("table.grid td.label").all_inner_texts()
    assert sorted(labels) == ["biden", "obama"]
    assert_overlay_on_image(page)
    page.locator(".overlay .face").first.focus()
    assert page.locator(".detail .match").count() == 3


def test_family_resemblance_verdict(page: Page, server: Server, photos: Path) -> None:
    # no family photos in the data: the "child" is another photo of one of the "relatives"
    open_page(page, server, "/family")
    files = page.locator("#main input[type=file]")
    files.nth(0).set_input_files(str(photos / "obama2.jpg"))
    files.nth(1).set_input_files(str(photos / "obama.jpg"))
    files.nth(2).set_input_files(str(photos / "biden.jpg"))
    page.get_by_label("Relative 1: name").fill("Barack")
    page.get_by_label("Relative 2: name").fill("Joe")
    page.get_by_role("button", name="Compare").click()
    verdict = page.locator(".verdict")
    verdict.wait_for()
    assert verdict.locator("h2").inner_text() == "Resembles Barack more"
    assert "Caveat" in verdict.inner_text()
    assert verdict.locator("tbody tr").count() == 2
    assert "Calibration: pack" not in verdict.inner_text()
    assert "unrelated faces" in verdict.locator(".hint").inner_text()
    # each relative's photo is previewed; a third relative can be added and removed again
    expect(page.locator(".relative img[alt^='photo of relative']")).to_have_count(2)
    page.get_by_role("button", name="Add another relative").click()
    expect(page.locator(".relative")).to_have_count(3)
    page.get_by_role("button", name="Remove relative 3").click()
    expect(page.locator(".relative")).to_have_count(2)
    page.get_by_role("button", name="Remove relative 2").click()
    page.get_by_role("button", name="Compare").click()
    expect(page.locator("p.status")).to_contain_text("at least two relatives")


def test_people_enrol_and_find(page: Page, server: Server, photos: Path) -> None:
    open_page(page, server, "/people")
    page.get_by_label("Name", exact=True).fill("Lin-Manuel Miranda")
    page.set_input_files("#main form input[type=file]", [str(photos / "lin-manuel-miranda.png")])
    page.wait_for_selector(".picks .hint")
    page.get_by_role("button", name="Enrol", exact=True).click()
    row = page.locator("tr[data-name='Lin-Manuel Miranda']")
    row.wait_for()
    assert row.locator("td").nth(2).inner_text() == "1"
    assert "1 photo added" in page.locator(".status").inner_text()
    row.get_by_role("button").click()
    page.locator(".person .templates li").first.wait_for()


def test_people_enrol_picks_the_chosen_face(page: Page, server: Server, photos: Path) -> None:
    import httpx

    group = photos / "two_people.jpg"
    found = httpx.post(
        f"{server.url}/v1/detect", files={"image": (group.name, group.read_bytes())}, timeout=60
    )
    boxes = [f["box"] for f in found.json()["faces"]]
    assert len(boxes) == 2
    area = [(b[2] - b[0]) * (b[3] - b[1]) for b in boxes]
    pick = area.index(min(area))  # not the default (largest) face
    who = (
        "biden.jpg" if boxes[pick][0] > boxes[1 - pick][0] else "obama.jpg"
    )  # Biden is on the right
    open_page(page, server, "/people")
    page.get_by_label("Name", exact=True).fill("Picked")
    page.set_input_files("#main form input[type=file]", [str(group)])
    page.get_by_role("radio", name=f"face {pick + 1}").check()
    page.get_by_role("button", name="Enrol", exact=True).click()
    page.locator("tr[data-name='Picked']").wait_for()
    check = httpx.post(
        f"{server.url}/v1/verify",
        files={"image_a": (who, (photos / who).read_bytes())},
        data={
            "person_id": httpx.get(
                f"{server.url}/v1/people/by-name", params={"name": "Picked"}
            ).json()["id"]
        },
        timeout=60,
    )
    assert check.json()["same"] is True, (who, check.json())


def test_people_rename_add_remove_delete(page: Page, server: Server, data_dir: Path) -> None:
    import httpx

    faces = data_dir / "photos" / "facenet_pytorch" / "test_images"
    first, second = faces / "paul_rudd" / "1.jpg", faces / "angelina_jolie" / "1.jpg"
    resp = httpx.post(
        f"{server.url}/v1/people",
        data={"name": "Temp"},
        files={"images": (first.name, first.read_bytes())},
        timeout=60,
    )
    assert resp.status_code == 201, resp.text
    page.on("dialog", lambda dialog: dialog.accept())
    open_page(page, server, "/people")
    page.get_by_role("button", name="Open Temp").click()
    person = page.locator("section.person")
    person.get_by_label("New name").fill("Temp Renamed")
    person.get_by_role("button", name="Rename").click()
    page.locator("tr[data-name='Temp Renamed']").wait_for()
    expect(page.locator("tr[data-name='Temp']")).to_have_count(0)
    person.get_by_label("Add photos of Temp Renamed").set_input_files(str(second))
    person.get_by_role("button", name="Add", exact=True).click()
    expect(person.locator(".templates li")).to_have_count(2)
    person.get_by_role("button", name="Remove template").first.click()
    expect(person.locator(".templates li")).to_have_count(1)
    expect(page.locator("tr[data-name='Temp Renamed'] td").nth(2)).to_have_text("1")
    person.get_by_role("button", name="Delete Temp Renamed").click()
    expect(page.locator("tr[data-name='Temp Renamed']")).to_have_count(0)
    assert all(
        p["name"] != "Temp Renamed" for p in httpx.get(f"{server.url}/v1/people").json()["people"]
    )


def test_enrolling_a_taken_name_asks_and_adds_only_on_yes(
    page: Page, server: Server, data_dir: Path
) -> None:
    """Enrolling under an existing name shows that person's faces and asks: Cancel adds
    nothing, "Add to NAME" adds the photo to them; a double click enrols once."""
    import httpx

    lfw = data_dir / "lfw" / "images_deepfunneled" / "Paul_Bremer"
    first, second = sorted(lfw.glob("*.jpg"))[:2]
    resp = httpx.post(
        f"{server.url}/v1/people",
        data={"name": "Paul"},
        files={"images": (first.name, first.read_bytes())},
        timeout=60,
    )
    assert resp.status_code == 201, resp.text
    open_page(page, server, "/people")
    for answer, templates in (("Cancel", 1), ("Add to Paul", 2)):
        page.get_by_label("Name", exact=True).fill("Paul")
        page.set_input_files("#main form input[type=file]", [str(second)])
        page.wait_for_selector(".picks .hint")
        page.get_by_role("button", name="Enrol", exact=True).dblclick()
        ask = page.locator("dialog.ask")
        expect(ask.locator("h2")).to_have_text("Paul is enrolled already")
        expect(ask.locator("img")).to_have_count(1)  # Paul's one face so far
        ask.get_by_role("button", name=answer).click()
        expect(ask).to_have_count(0)
        expect(page.locator("tr[data-name='Paul'] td").nth(2)).to_have_text(str(templates))
    expect(page.locator("p.status")).to_contain_text("Paul: 1 photo added")
    expect(page.locator("#messages")).to_be_empty()  # no "pass append" after a double click
    assert len(_person(server.url, "Paul")["templates"]) == 2
    _remove_person(server.url, "Paul")


@pytest.mark.parametrize("name", ["unknown", "Unknown_1"])
def test_reserved_names_are_refused_on_the_people_page(
    page: Page, server: Server, photos: Path, name: str
) -> None:
    expect_refusals(page)
    open_page(page, server, "/people")
    page.get_by_label("Name", exact=True).fill(name)
    page.set_input_files("#main form input[type=file]", [str(photos / "obama.jpg")])
    page.wait_for_selector(".picks .hint")
    page.get_by_role("button", name="Enrol", exact=True).click()
    expect(page.locator("#messages .error")).to_contain_text("reserved")
    expect(page.locator(f"tr[data-name='{name}']")).to_have_count(0)


def test_unknown_path_is_a_page_not_found(page: Page, server: Server) -> None:
    expect_refusals(page)
    resp = page.goto(server.url + "/no-such-page")
    assert resp is not None and resp.status == 404
    expect(page.locator("main h1")).to_have_text("Page not found")
    page.get_by_role("link", name="Identify: name everyone in a group photo").click()
    expect(page.locator("main h1")).to_have_text("Identify everyone in a photo")
    import httpx

    api = httpx.get(f"{server.url}/v1/no-such-thing", headers={"Accept": "application/json"})
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"


def test_no_earlier_result_stays_under_an_error(
    page: Page, server: Server, photos: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"this is not a photo")
    expect_refusals(page)
    open_page(page, server, "/lookalike")
    page.set_input_files("#main input[type=file]", str(photos / "obama.jpg"))
    page.locator(".face-card").first.wait_for()
    page.set_input_files("#main input[type=file]", str(broken))
    expect(page.locator("#messages .error")).to_be_visible()
    message = page.locator("#messages .error").inner_text()
    assert "bytes>" not in message and "Errno" not in message, message  # no developer words
    expect(page.locator(".face-card")).to_have_count(0)
    expect(page.locator("figure.stage")).to_have_count(0)
    open_page(page, server, "/identify")
    page.set_input_files("#main input[type=file]", str(photos / "obama.jpg"))
    expect(page.locator("p.status")).to_contain_text("1 face:")  # not "1 faces"
    expect(page.locator(".overlay .face text")).to_have_text("1 obama")  # numbered as the table
    page.set_input_files("#main input[type=file]", str(broken))
    expect(page.locator("#messages .error")).to_be_visible()
    expect(page.locator("table.grid")).to_have_count(0)


@pytest.fixture(scope="module")
def big_photo(photos: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An 8000x8000 JPEG (64 MP, over the server's 40 MP limit) with Obama in the middle."""
    from PIL import Image

    canvas = Image.new("RGB", (8000, 8000), (120, 120, 120))
    face = Image.open(photos / "obama.jpg").convert("RGB").resize((1820, 2274))
    canvas.paste(face, (3090, 2863))
    path = tmp_path_factory.mktemp("big") / "big-8000.jpg"
    canvas.save(path, quality=80)
    return path


@pytest.mark.slow
def test_large_photo_is_downscaled_before_upload(
    page: Page, server: Server, big_photo: Path
) -> None:
    open_page(page, server, "/identify")
    page.set_input_files("#main input[type=file]", str(big_photo))
    expect(page.locator("p.status")).to_contain_text("sent at 4096×4096", timeout=120_000)
    assert page.locator("table.grid td.label").all_inner_texts() == ["obama"]
    assert_overlay_on_image(page)


@pytest.mark.slow
def test_large_photo_is_downscaled_on_verify(
    page: Page, server: Server, photos: Path, big_photo: Path
) -> None:
    """Every page that uploads photos downscales them (verify here; it was 413 before)."""
    open_page(page, server, "/verify")
    page.set_input_files("#main input[type=file] >> nth=0", str(big_photo))
    page.set_input_files("#main input[type=file] >> nth=1", str(photos / "obama2.jpg"))
    page.get_by_role("button", name="Compare").click()
    expect(page.locator(".verdict h2")).to_have_text("Same person", timeout=120_000)
    assert_overlay_on_image(page)


def test_heic_photo_is_accepted(page: Page, server: Server, photos: Path, tmp_path: Path) -> None:
    import pillow_heif
    from PIL import Image

    heif = pillow_heif.from_pillow(Image.open(photos / "obama.jpg").convert("RGB"))
    path = tmp_path / "obama.heic"
    heif.save(path, quality=90)
    open_page(page, server, "/lookalike")
    page.set_input_files("#main input[type=file]", str(path))
    first = page.locator(".face-card").first
    first.wait_for()
    assert first.locator(".match .name").first.inner_text() == "obama"


NARROW = ["/lookalike", "/verify", "/identify", "/family", "/people", "/library", "/video"]


@pytest.mark.parametrize("path", NARROW)
def test_no_horizontal_overflow_at_390_px(
    browser: Browser, server: Server, photos: Path, path: str
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        open_page(page, server, path)
        page.wait_for_load_state("networkidle")
        if path == "/identify":
            page.set_input_files("#main input[type=file]", str(photos / "two_people.jpg"))
            page.locator("table.grid tbody tr").first.wait_for()
        if path == "/people":
            page.locator("table.grid tbody tr").first.wait_for()
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= 390, f"{path} is {wide} px wide at 390 px"
    finally:
        context.close()


@pytest.mark.slow
def test_api_key_kept_in_memory_only(
    browser: Browser, gallery_dir: Path, photos: Path, tmp_path: Path
) -> None:
    from faceprint.server.security import KeyStore

    gallery = tmp_path / "gallery"
    shutil.copytree(gallery_dir, gallery)
    key = KeyStore(gallery).add("web-test", "admin")
    srv = Server(gallery, None, tmp_path / "server.log")
    context = browser.new_context()
    try:
        page = context.new_page()
        open_page(page, srv, "/people")
        expect(page.locator("#messages .error")).to_contain_text("API key")
        page.fill("#api-key", key)
        page.press("#api-key", "Enter")
        expect(page.locator("table.grid tbody tr")).to_have_count(5)
        page.wait_for_load_state("networkidle")
        srcs = page.locator("table.grid img").evaluate_all("imgs => imgs.map(i => i.src)")
        assert srcs and all(s.startswith("blob:") for s in srcs)  # fetched with the key
        # navigating inside the app keeps the key; nothing stores it
        page.get_by_role("link", name="Lookalike").click()
        # the page is drawn by the app after the click: wait for it before using its file input
        expect(page.locator("main h1")).to_have_text("Which star do you resemble?")
        page.set_input_files("#main input[type=file]", str(photos / "obama.jpg"))
        page.locator(".face-card").wait_for()
        assert key not in page.url
        assert context.cookies() == []
        assert page.evaluate("localStorage.length + sessionStorage.length") == 0
        page.reload()
        assert page.input_value("#api-key") == ""
    finally:
        context.close()
        srv.stop()


# --- photo library --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def library_server(
    chromium: str, photos: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A server with a photo library over a small tree of real photos (not scanned yet)."""
    from faceprint.library import Library

    base = tmp_path_factory.mktemp("web-library")
    tree = base / "photos"
    for person in ("obama", "biden"):
        shutil.copytree(photos / "knn_examples" / "train" / person, tree / person)
    for name in ("obama.jpg", "obama2.jpg", "biden.jpg", "two_people.jpg"):
        shutil.copy(photos / name, tree / name)
    Library.create(base / "library", pack="dlib", root=tree).close()
    srv = Server(base / "gallery", base / "library", base / "server.log")
    yield srv
    srv.stop()


def _cards(page: Page) -> list[str]:
    return page.locator(".people-grid .person-card .name").all_inner_texts()


@pytest.mark.slow
def test_library_scan_name_merge_undo_hide_and_find(page: Page, library_server: Server) -> None:
    page.on("dialog", lambda d: d.accept())  # the confirms before a merge and a "not them"
    open_page(page, library_server, "/library")
    page.get_by_role("button", name="Scan for new photos").click()
    cards = page.locator(".people-grid .person-card")
    cards.first.wait_for(timeout=120_000)
    expect(page.locator("dl.facts")).to_contain_text("Photos")
    groups = cards.count()
    assert groups >= 2, _cards(page)
    # a group's page: all its faces; name it
    cards.first.click()
    group = page.locator("section.group")
    group.get_by_label("Who is this?").fill("Grandpa Barack")
    group.get_by_role("button", name="Name them").click()
    expect(cards.first.locator(".name")).to_have_text("Grandpa Barack")
    expect(group.locator("h2")).to_contain_text("Grandpa Barack")
    # another group under the same name is not silently added: the page asks; cancel
    page.get_by_role("button", name="Back to everyone").click()
    cards.nth(1).click()
    expect(group.locator("h2")).not_to_contain_text("Grandpa Barack")  # the group has opened
    second = group.locator("h2").inner_text()
    size = len(group.locator(".face-grid li").all())
    group.get_by_label("Who is this?").fill("Grandpa Barack")
    group.get_by_role("button", name="Name them").click()
    ask = page.locator("dialog.ask")
    expect(ask.locator("h2")).to_have_text("Grandpa Barack is enrolled already")
    ask.get_by_role("button", name="Cancel").click()
    expect(page.locator("p.status")).to_contain_text("Nothing was added")
    expect(group.locator("h2")).to_have_text(second)
    # "not them" takes a face out; Undo puts it back
    group.get_by_role("button", name="Not them").first.click()
    expect(group.locator(".face-grid li")).to_have_count(size - 1)
    page.locator(".undo").get_by_role("button", name="Undo").click()
    expect(group.locator(".face-grid li")).to_have_count(size)
    # "is this the same person?": merge a suggestion (confirmed), then undo the merge
    suggestion = group.locator(".suggestions li").first
    suggestion.get_by_role("button", name="Same person: merge").click()
    expect(cards).to_have_count(groups - 1)
    page.locator(".undo").get_by_role("button", name="Undo").click()
    expect(cards).to_have_count(groups)
    # hide a group, find it among the hidden ones
    cards.last.click()
    group.get_by_role("button", name="Hide this group").click()
    expect(cards).to_have_count(groups - 1)
    page.get_by_label("Show hidden groups").check()
    expect(cards).to_have_count(1)
    page.get_by_label("Show hidden groups").uncheck()
    # search by name
    page.get_by_label("Search by name").fill("grandpa")
    expect(cards).to_have_count(1)
    assert _cards(page) == ["Grandpa Barack"]
    # the person's photos, oldest first, and the slideshow
    page.get_by_label("Whose photos?").fill("Grandpa Barack")
    page.get_by_role("button", name="Show their photos").click()
    page.locator(".photo-grid img").first.wait_for()
    assert page.locator(".photo-grid li").count() >= 2
    assert "date unkno" not in page.locator(".photo-grid").inner_text().replace("date unknown", "")
    page.get_by_role("button", name="Slideshow").click()
    page.locator("dialog.slideshow img.slide[src]").wait_for()
    page.keyboard.press("ArrowRight")
    expect(page.locator("dialog.slideshow .caption")).to_contain_text("2 / ")
    page.keyboard.press("Escape")
    # a phone's width: nothing overflows sideways
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_label("Search by name").fill("")
    expect(cards).to_have_count(groups - 1)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


# --- layout under load: a 6000 x 4000 photo with 40+ faces ----------------------------------------


@pytest.fixture(scope="module")
def crowd_photo(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 6000x4000 JPEG with 40 LFW faces of 40 people on a grid (made here, never committed)."""
    from PIL import Image

    lfw = data_dir / "lfw" / "images_deepfunneled"
    people = sorted(p for p in lfw.iterdir() if p.is_dir())[:400:10][:40]
    canvas = Image.new("RGB", (6000, 4000), (90, 100, 110))
    for i, person in enumerate(people):
        face = Image.open(sorted(person.glob("*.jpg"))[0]).convert("RGB").resize((600, 600))
        row, col = divmod(i, 8)
        canvas.paste(face, (col * 750 + 75, row * 800 + 100))
    path = tmp_path_factory.mktemp("crowd") / "crowd-6000x4000.jpg"
    canvas.save(path, quality=85)
    return path


@pytest.mark.slow
def test_identify_large_photo_with_40_faces_fits(
    page: Page, server: Server, crowd_photo: Path
) -> None:
    open_page(page, server, "/identify")
    page.set_input_files("#main input[type=file]", str(crowd_photo))
    page.wait_for_selector("table.grid tbody tr", timeout=120_000)
    assert page.locator(".overlay .face").count() >= 40
    assert_overlay_on_image(page)
    layout = page.evaluate(
        """() => {
        const stage = document.querySelector('.stage').getBoundingClientRect();
        const main = document.querySelector('main').getBoundingClientRect();
        const svg = document.querySelector('.overlay').getBoundingClientRect();
        return {stageRight: stage.right, mainRight: main.right, stageH: stage.height,
                svgW: svg.width, svgH: svg.height, stageW: stage.width,
                scrollW: document.documentElement.scrollWidth, innerW: window.innerWidth,
                innerH: window.innerHeight};
    }"""
    )
    assert layout["scrollW"] <= layout["innerW"], "the page scrolls sideways"
    assert layout["stageRight"] <= layout["mainRight"] + 1
    assert layout["stageH"] <= 0.7 * layout["innerH"] + 2
    assert abs(layout["svgW"] - layout["stageW"]) < 2 and abs(layout["svgH"] - layout["stageH"]) < 2
    # the overlay keeps the photo's aspect ratio, so every box sits on its face
    assert abs(layout["stageW"] / layout["stageH"] - 1.5) < 0.02


# --- speed and weight with a 1,000-person gallery ---------------------------------------------------

RESULTS = ROOT / "bench-results"


@pytest.fixture(scope="module")
def big_gallery(gallery_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The knn_examples gallery plus 995 synthetic people (embeddings drawn around the real
    templates' mean, so they rank like strangers; one shared JPEG thumbnail): 1,000 identities."""
    import numpy as np
    from PIL import Image

    from faceprint.gallery import Gallery
    from faceprint.gallery.store import DB_NAME, GalleryStore

    path = tmp_path_factory.mktemp("web-big") / "gallery"
    shutil.copytree(gallery_dir, path)
    gallery = Gallery.open(path)
    store = GalleryStore.open(path / DB_NAME)
    try:
        mean = store.embeddings(gallery.dim)[1].mean(axis=0)
        n = 1000 - len(gallery.identities())
        vecs = mean + np.random.default_rng(16).normal(0.0, 0.035, size=(n, gallery.dim))
        jpeg = io.BytesIO()
        Image.new("RGB", (112, 112), (150, 150, 160)).save(jpeg, "JPEG")
        names = [f"person {i:04d}" for i in range(n)]
        gallery.add_embeddings(names, vecs.astype("float32"), thumbnails=[jpeg.getvalue()] * n)
        assert len(gallery.identities()) == 1000
    finally:
        store.close()
        gallery.close()
    return path


def _median_api_seconds(url: str, image: Path, runs: int = 3) -> float:
    """Median wall time of POST /v1/search for ``image`` straight to the API (the anchor)."""
    import statistics

    import httpx

    times = []
    data = image.read_bytes()
    for _ in range(runs):
        start = time.perf_counter()
        resp = httpx.post(
            f"{url}/v1/search", files={"image": (image.name, data)}, data={"top_k": "3"}, timeout=60
        )
        times.append(time.perf_counter() - start)
        assert resp.status_code == 200, resp.text
    return statistics.median(times)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (Linux /proc; 0.0 elsewhere)."""
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return 0.0
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.slow
def test_lookalike_speed_and_weight_with_1000_people(
    browser: Browser, big_gallery: Path, photos: Path, tmp_path: Path
) -> None:
    srv = Server(big_gallery, None, tmp_path / "server.log")
    try:
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        page = context.new_page()
        sizes: dict[str, int] = {}

        def finished(request: object) -> None:
            s = request.sizes()  # type: ignore[attr-defined]
            sizes[request.url] = s["responseBodySize"] + s["responseHeadersSize"]  # type: ignore[attr-defined]

        page.on("requestfinished", finished)
        open_page(page, srv, "/")
        page.wait_for_load_state("networkidle")
        page_bytes = sum(sizes.values())
        # time from the file landing in the input to the rendered result, in the browser
        page.set_input_files("#main input[type=file]", str(photos / "obama.jpg"))
        page.wait_for_selector(".face-card")
        page.wait_for_load_state("networkidle")
        browser_ms = page.evaluate("performance.getEntriesByName('fp-lookalike')[0].duration")
        first = page.locator(".face-card .match .name").first.inner_text()
        total_bytes = sum(sizes.values())
        cpu_before = _cpu_seconds(srv.proc.pid)
        api_s = _median_api_seconds(srv.url, photos / "obama.jpg")
        api_cpu_s = (_cpu_seconds(srv.proc.pid) - cpu_before) / 3
        context.close()
    finally:
        srv.stop()
    report = {
        "gallery_people": 1000,
        "photo": "obama.jpg (910x1137)",
        "upload_to_result_ms": round(browser_ms),
        "api_search_median_ms": round(1000 * api_s),
        "api_search_server_cpu_ms": round(1000 * api_cpu_s),
        "page_overhead_ms": round(browser_ms - 1000 * api_s),
        "page_bytes": page_bytes,
        "page_plus_result_bytes": total_bytes,
        "load_average": os.getloadavg()[0],
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "web_lookalike.json").write_text(json.dumps(report, indent=2) + "\n")
    print("web lookalike:", report)
    assert first == "obama"
    assert page_bytes < 300_000, report
    assert total_bytes < 300_000, report
    # the page's overhead over the API call (target < 1 s on an idle machine) is reported in
    # web_lookalike.json, not asserted: a test never asserts a speed (it failed at load 17)


# --- a new user's whole journey, on a laptop and on a phone --------------------------------------


def _no_overflow(page: Page, width: int, where: str) -> None:
    wide = page.evaluate("document.documentElement.scrollWidth")
    culprits = page.evaluate(
        """w => [...document.querySelectorAll('main *')]
            .filter(e => e.getBoundingClientRect().right > w + 1).slice(-4)
            .map(e => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)""",
        width,
    )
    assert wide <= width, f"{where}: {wide} px wide in a {width} px window ({culprits})"


@pytest.mark.slow
@pytest.mark.parametrize("width", [1280, 390])
def test_new_user_journey(
    browser: Browser,
    gallery_dir: Path,
    photos: Path,
    data_dir: Path,
    tmp_path: Path,
    width: int,
) -> None:
    """Enrol people, identify a group photo, scan a library and name a group, run a video and
    name an unknown, search: no sideways overflow, no console error (other than the refusal
    the test provokes), no earlier result left under an error."""
    import httpx

    tree = tmp_path / "photos"
    for person in ("obama", "biden"):
        shutil.copytree(photos / "knn_examples" / "train" / person, tree / person)
    for name in ("obama2.jpg", "two_people.jpg"):
        shutil.copy(photos / name, tree / name)
    from faceprint.library import Library

    Library.create(tmp_path / "library", pack="dlib", root=tree).close()
    (tmp_path / "gallery").mkdir()
    srv = Server(tmp_path / "gallery", tmp_path / "library", tmp_path / "server.log")
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        # 1. enrol two people
        open_page(page, srv, "/people")
        for name, image in (("Barack Obama", "obama.jpg"), ("Joe Biden", "biden.jpg")):
            page.get_by_label("Name", exact=True).fill(name)
            page.set_input_files("#main form input[type=file]", [str(photos / image)])
            page.wait_for_selector(".picks .hint")
            page.get_by_role("button", name="Enrol", exact=True).click()
            page.locator(f"tr[data-name='{name}']").wait_for()
        expect(page.locator("#server-info")).to_contain_text("2 people")  # the footer follows
        _no_overflow(page, width, "people")
        # 2. identify a group photo; then a broken file: an error and no stale answer
        page.get_by_role("link", name="Identify").click()
        expect(page.locator("main h1")).to_have_text("Identify everyone in a photo")
        page.set_input_files("#main input[type=file]", str(photos / "two_people.jpg"))
        page.locator("table.grid tbody tr").first.wait_for()
        labels = page.locator("table.grid td.label").all_inner_texts()
        assert sorted(labels) == ["Barack Obama", "Joe Biden"], labels
        _no_overflow(page, width, "identify")
        broken = tmp_path / "broken.jpg"
        broken.write_bytes(b"not a photo")
        page.set_input_files("#main input[type=file]", str(broken))
        expect(page.locator("#messages .error")).to_be_visible()
        expect(page.locator("table.grid")).to_have_count(0)
        errors = [e for e in errors if not REFUSED.fullmatch(e)]  # the refusal we provoked
        # 3. scan the library and name the largest group
        page.get_by_role("link", name="Photo library").click()
        page.get_by_role("button", name="Scan for new photos").click()
        cards = page.locator(".people-grid .person-card")
        cards.first.wait_for(timeout=120_000)
        cards.first.click()
        page.locator("section.group").get_by_label("Who is this?").fill("Grandpa")
        page.get_by_role("button", name="Name them").click()
        expect(cards.first.locator(".name")).to_have_text("Grandpa")
        _no_overflow(page, width, "library")
        # 4. a video: name the unknown whose faces are big enough; the re-run names him
        page.get_by_role("link", name="Video").click()
        page.set_input_files(
            "#main input[type=file]", str(data_dir / "video" / "short_hamilton_clip.mp4")
        )
        page.get_by_label("Detect faces on every N-th frame").fill("6")
        page.get_by_role("button", name="Find who is on screen").click()
        page.locator(".unknowns form input").first.wait_for(timeout=180_000)
        _no_overflow(page, width, "video")
        # the first card is the unknown longest on screen: him (the profile close-up is another)
        card = page.locator(".unknowns form").first
        card.locator("input").fill("Lin-Manuel Miranda")
        card.get_by_role("button", name="Enrol and re-run").click()
        expect(
            page.locator("table.grid tbody tr td:first-child", has_text="Lin-Manuel Miranda")
        ).to_be_visible(timeout=180_000)
        # 5. search the videos
        search = page.locator("section[aria-label='video search']")
        search.get_by_label("Person").fill("Lin-Manuel Miranda")
        search.get_by_role("button", name="Search the videos").click()
        search.locator("ul.ranges button").first.wait_for()
        _no_overflow(page, width, "video search")
        people = httpx.get(f"{srv.url}/v1/people", timeout=30).json()["people"]
        assert sorted(p["name"] for p in people) == [
            "Barack Obama",
            "Joe Biden",
            "Lin-Manuel Miranda",
        ]
    finally:
        context.close()
        srv.stop()
    assert not errors, f"errors in the page: {errors}"


# --- a real library: 50,000 faces in 10,000 groups, and a 10,000-person gallery -------------------

BIG_GROUPS, BIG_CLUSTERED, BIG_FREE, BIG_NAMED = 10_000, 45_000, 5_000, 2_000


def _group_sizes() -> list[int]:
    """10,000 group sizes summing to 45,000: a few large groups and a long tail, as in a photo
    library (the largest about 200 faces)."""
    sizes = [max(1, int(200 / (i + 1) ** 0.75)) for i in range(BIG_GROUPS)]
    extra, left = divmod(BIG_CLUSTERED - sum(sizes), BIG_GROUPS)
    return [n + extra + (1 if i < left else 0) for i, n in enumerate(sizes)]


@pytest.fixture(scope="module")
def big_library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(gallery with 10,000 people, library with 50,000 faces in 10,000 groups, 2,000 named),
    written as rows with synthetic embeddings and one shared face thumbnail."""
    import numpy as np
    from PIL import Image

    from faceprint.gallery import Gallery
    from faceprint.library import Library

    base = tmp_path_factory.mktemp("web-big-library")
    (base / "photos").mkdir()
    jpeg = io.BytesIO()
    Image.new("RGB", (112, 112), (170, 150, 140)).save(jpeg, "JPEG", quality=60)
    thumb = jpeg.getvalue()
    rng = np.random.default_rng(22)
    with Gallery.create(base / "gallery", "dlib") as gallery:
        vecs = rng.normal(size=(10_000, 128)).astype(np.float32)
        names = [f"Gallery person {i:05d}" for i in range(10_000)]
        gallery.add_embeddings(names, vecs / np.linalg.norm(vecs, axis=1, keepdims=True),
                               thumbnails=[thumb] * 10_000)  # fmt: skip
    lib = Library.create(base / "library", pack="dlib", root=base / "photos")
    sizes = _group_sizes()
    centres = rng.normal(size=(BIG_GROUPS, 128)).astype(np.float32)
    cluster_of = np.repeat(np.arange(BIG_GROUPS), sizes)
    emb = centres[cluster_of] + 0.3 * rng.normal(size=(BIG_CLUSTERED, 128)).astype(np.float32)
    free = rng.normal(size=(BIG_FREE, 128)).astype(np.float32)
    emb = np.concatenate([emb, free])
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    with lib._store.transaction() as cur:
        cur.executemany("INSERT INTO people (id, name) VALUES (?, ?)",
                        [(i + 1, f"Person {i + 1:05d}") for i in range(BIG_NAMED)])  # fmt: skip
        cur.executemany(
            "INSERT INTO clusters (id, person_id) VALUES (?, ?)",
            [(c + 1, c + 1 if c < BIG_NAMED else None) for c in range(BIG_GROUPS)],
        )
        cur.executemany(
            "INSERT INTO photos (id, path, size, mtime_ns, sha256, width, height, taken, "
            "scanned_at) VALUES (?, ?, 1, 0, ?, 640, 480, '2020-01-01T00:00:00', 'now')",
            [(i + 1, f"{i // 500:03d}/{i}.jpg", f"h{i}") for i in range(len(emb))],
        )
        marks = np.zeros(10, np.float32).tobytes()
        rows = []
        for i, vec in enumerate(emb):
            c = int(cluster_of[i]) + 1 if i < BIG_CLUSTERED else None
            person = c if c is not None and c <= BIG_NAMED else None
            state = "confirmed" if person else "auto" if c else "free"
            quality = float(rng.uniform(0.3, 1.0))
            rows.append((i + 1, marks, quality, vec.tobytes(), thumb, c, person, state))
        cur.executemany(
            "INSERT INTO faces (photo_id, idx, x1, y1, x2, y2, landmarks, score, size, quality, "
            "embedding, thumbnail, cluster_id, person_id, state) "
            "VALUES (?, 0, 10, 10, 110, 110, ?, 1, 100, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    lib.close()
    return base / "gallery", base / "library"


def _since_navigation(page: Page, mark: str) -> float:
    return float(page.evaluate(f"performance.getEntriesByName('{mark}').at(-1).startTime"))


@pytest.mark.slow
def test_library_page_with_50000_faces_and_10000_people(
    browser: Browser, big_library: tuple[Path, Path], tmp_path: Path
) -> None:
    """Correct pages on a real-size library, with the times measured in the browser (reported
    to bench-results/web_library.json, never asserted: the machine may be loaded)."""
    gallery, library = big_library
    srv = Server(gallery, library, tmp_path / "server.log")
    try:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        cards = page.locator(".people-grid .person-card")
        open_page(page, srv, "/library")
        expect(cards).to_have_count(48)
        load_ms = _since_navigation(page, "fp-library-grid")
        assert page.locator(".pager").first.inner_text().count("1–48 of 10,000 people") == 1
        sizes = [int(t.split()[0]) for t in cards.locator(".count").all_inner_texts()]
        assert sizes == sorted(sizes, reverse=True) and sizes[0] == max(_group_sizes())
        # search by name (the page waits 250 ms after the last keystroke, included)
        start = page.evaluate("performance.now()")
        page.get_by_label("Search by name").fill("Person 01234")
        expect(cards).to_have_count(1)
        search_ms = _since_navigation(page, "fp-library-grid") - start
        page.get_by_label("Search by name").fill("")
        expect(cards).to_have_count(48)
        # a group's page with its faces and "same person?" suggestions
        start = page.evaluate("performance.now()")
        cards.first.click()
        page.locator("section.group .suggestions li").first.wait_for()
        group_ms = _since_navigation(page, "fp-library-group") - start
        # the next page of people
        page.get_by_role("button", name="Back to everyone").click()
        start = page.evaluate("performance.now()")
        page.locator(".pager").first.get_by_role("button", name="Next").click()
        expect(page.locator(".pager").first).to_contain_text("49–96 of 10,000 people")
        next_ms = _since_navigation(page, "fp-library-grid") - start
        expect(page.locator("section[aria-label='faces in no group']")).to_contain_text("5,000")
        # the People page with a 10,000-person gallery
        open_page(page, srv, "/people")
        expect(page.locator("table.grid tbody tr")).to_have_count(50, timeout=120_000)
        people_ms = float(page.evaluate("performance.now()"))  # observed: an upper bound
        expect(page.locator(".pager")).to_contain_text("1–50 of 10,000")
        page.get_by_label("Search by name").fill("person 09999")
        expect(page.locator("table.grid tbody tr")).to_have_count(1)
        context.close()
    finally:
        srv.stop()
    report = {
        "library_faces": BIG_CLUSTERED + BIG_FREE,
        "library_groups": BIG_GROUPS,
        "gallery_people": 10_000,
        "library_page_grid_ms": round(load_ms),
        "search_ms_incl_250ms_pause": round(search_ms),
        "open_group_with_suggestions_ms": round(group_ms),
        "next_page_ms": round(next_ms),
        "people_page_first_50_of_10000_ms_upper_bound": round(people_ms),
        "load_average": os.getloadavg()[0],
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "web_library.json").write_text(json.dumps(report, indent=2) + "\n")
    print("web library:", report)


# --- accessibility ------------------------------------------------------------------------------

AXE = Path(os.environ.get("FACEPRINT_AXE", ROOT / "node_modules" / "axe-core" / "axe.min.js"))
PAGE_PATHS = ["/lookalike", "/verify", "/identify", "/family", "/people", "/library", "/video"]


@pytest.fixture
def axe_page(browser: Browser) -> Iterator[Page]:
    """A page that may have axe-core injected (its context bypasses the CSP for that only)."""
    if not AXE.is_file():
        pytest.skip(f"axe-core not found at {AXE} (npm install --no-save axe-core)")
    context = browser.new_context(viewport={"width": 1200, "height": 900}, bypass_csp=True)
    yield context.new_page()
    context.close()


def _axe_violations(page: Page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        """async () => {
        const r = await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']});
        return r.violations.map(v => `${v.id} (${v.impact}): ${v.nodes.length} x ${v.nodes[0].target.join(' ')} — ${v.help}`);
    }"""
    )
    return list(found)


@pytest.mark.parametrize("path", PAGE_PATHS)
def test_axe_finds_no_violation(axe_page: Page, server: Server, path: str) -> None:
    open_page(axe_page, server, path)
    axe_page.wait_for_load_state("networkidle")
    assert _axe_violations(axe_page) == []


def test_axe_on_results(axe_page: Page, server: Server, photos: Path) -> None:
    open_page(axe_page, server, "/identify")
    axe_page.set_input_files("#main input[type=file]", str(photos / "two_people.jpg"))
    axe_page.wait_for_selector("table.grid tbody tr")
    axe_page.locator(".overlay .face").first.focus()
    axe_page.wait_for_load_state("networkidle")
    assert _axe_violations(axe_page) == []
    open_page(axe_page, server, "/lookalike")
    axe_page.set_input_files("#main input[type=file]", str(photos / "two_people.jpg"))
    axe_page.wait_for_selector(".face-card")
    axe_page.wait_for_load_state("networkidle")
    assert _axe_violations(axe_page) == []


def test_axe_on_the_new_pages_and_dialogs(
    axe_page: Page, server: Server, library_server: Server, photos: Path
) -> None:
    """The 404 page, the question before adding to a taken name, and a scanned library with a
    group open: no violation either."""
    open_page(axe_page, server, "/no-such-page")
    assert _axe_violations(axe_page) == []
    open_page(axe_page, server, "/people")
    axe_page.get_by_label("Name", exact=True).fill("obama")
    axe_page.set_input_files("#main form input[type=file]", [str(photos / "obama2.jpg")])
    axe_page.wait_for_selector(".picks .hint")
    axe_page.get_by_role("button", name="Enrol", exact=True).click()
    axe_page.locator("dialog.ask img").first.wait_for()
    axe_page.wait_for_load_state("networkidle")
    assert _axe_violations(axe_page) == []
    axe_page.locator("dialog.ask").get_by_role("button", name="Cancel").click()
    open_page(axe_page, library_server, "/library")
    cards = axe_page.locator(".people-grid .person-card")
    if not cards.count():
        axe_page.get_by_role("button", name="Scan for new photos").click()
    cards.first.wait_for(timeout=120_000)
    cards.first.click()
    axe_page.locator("section.group .face-grid img").first.wait_for()
    axe_page.wait_for_load_state("networkidle")
    assert _axe_violations(axe_page) == []


def test_every_control_is_reachable_by_keyboard(page: Page, server: Server, photos: Path) -> None:
    open_page(page, server, "/identify")
    page.set_input_files("#main input[type=file]", str(photos / "two_people.jpg"))
    page.wait_for_selector("table.grid tbody tr")
    controls = page.evaluate(
        """() => [...document.querySelectorAll('a[href], button, input, select, textarea, [tabindex="0"]')]
            .filter(e => e.getClientRects().length && !e.disabled).length"""
    )
    page.locator("body").focus()
    reached = set()
    for _ in range(controls + 5):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.outerHTML.slice(0, 120)"))
    assert len(reached) >= controls, f"{len(reached)} of {controls} controls reached by Tab"
    # a face box reached by keyboard shows its candidates
    page.locator(".overlay .face").nth(1).focus()
    assert page.locator(".detail h2").inner_text().startswith("Face 2")


# --- video ----------------------------------------------------------------------------------------


def test_a_photo_uploaded_as_a_video_is_an_error(page: Page, server: Server, photos: Path) -> None:
    expect_refusals(page)
    open_page(page, server, "/video")
    page.set_input_files("#main input[type=file]", str(photos / "obama.jpg"))
    page.get_by_role("button", name="Find who is on screen").click()
    expect(page.locator("#messages .error")).to_be_visible(timeout=120_000)
    assert "Done" not in page.locator("p.status").inner_text()
    expect(page.locator("svg.timeline")).to_have_count(0)


def _person(url: str, name: str) -> dict:
    import httpx

    found = httpx.get(f"{url}/v1/people/by-name", params={"name": name}, timeout=30)
    assert found.status_code == 200, found.text
    return dict(httpx.get(f"{url}/v1/people/{found.json()['id']}", timeout=30).json())


def _remove_person(url: str, name: str) -> None:
    import httpx

    found = httpx.get(f"{url}/v1/people/by-name", params={"name": name}, timeout=30)
    if found.status_code == 200:
        assert httpx.delete(f"{url}/v1/people/{found.json()['id']}").status_code == 204


@pytest.mark.slow
def test_video_screen_time_chart(page: Page, server: Server, photos: Path, data_dir: Path) -> None:
    """Screen time, the timeline, and naming an unknown: a name that is taken asks first, a
    person too small on screen to become a trustworthy template is not offered for naming."""
    clip = data_dir / "video" / "short_hamilton_clip.mp4"  # 9 s; about 3 s of CPU to process
    _remove_person(server.url, "Lin-Manuel Miranda")  # so that he is an unknown_N with big faces
    open_page(page, server, "/video")
    assert page.locator("video.player").is_hidden()  # no empty black player before an upload
    page.set_input_files("#main input[type=file]", str(clip))
    page.get_by_label("Detect faces on every N-th frame").fill("6")  # the same tracks each run
    page.get_by_role("button", name="Find who is on screen").click()
    page.wait_for_selector("svg.timeline", timeout=180_000)
    names = page.locator("table.grid tbody tr td:first-child").all_inner_texts()
    unknowns = [n for n in names if n.startswith("unknown_")]
    assert len(unknowns) >= 2, names  # Lin-Manuel Miranda and the audience
    assert page.locator("svg.timeline rect.bar").count() >= 1
    # only Lin-Manuel Miranda's faces are big enough: his tracks make one or two unknown_N
    # (unknown tracks join face by face, and his close-up tracks may stay apart)
    all_forms = page.get_by_role("button", name="Enrol and re-run")
    expect(all_forms.first).to_be_visible()
    offered = all_forms.count()
    assert 1 <= offered <= 2
    assert page.locator(".unknowns li.small-faces").count() == len(unknowns) - offered
    forms = all_forms.first
    field = page.locator(".unknowns form input").first
    # a taken name is not a silent "add to": the page shows that person and asks; cancel
    obama = len(_person(server.url, "obama")["templates"])
    field.fill("obama")
    forms.click()
    ask = page.locator("dialog.ask")
    expect(ask.locator("h2")).to_have_text("obama is enrolled already")
    expect(ask.locator("img")).not_to_have_count(0)
    ask.get_by_role("button", name="Cancel").click()
    expect(page.locator("p.status")).to_contain_text("was not enrolled")
    assert len(_person(server.url, "obama")["templates"]) == obama  # nothing was added
    field.fill("Lin-Manuel Miranda")
    forms.click()
    expect(
        page.locator("table.grid tbody tr td:first-child", has_text="Lin-Manuel Miranda")
    ).to_be_visible(timeout=180_000)
    assert "null" not in page.locator("#main").inner_text().split()
    # video search: the ranges of a person across processed videos, click to play from there
    search = page.locator("section[aria-label='video search']")
    search.get_by_label("Person").fill("Lin-Manuel Miranda")
    search.get_by_role("button", name="Search the videos").click()
    ranges = search.locator("ul.ranges button")
    ranges.first.wait_for()
    start = float(ranges.first.inner_text().split(": ")[1].split(" s")[0])
    ranges.first.click()
    player = page.locator("video.player")
    page.wait_for_function(
        "s => { const v = document.querySelector('video.player');"
        " return v.error || (v.readyState >= 1 && v.currentTime >= s - 0.05); }",
        arg=start,
    )
    at = player.evaluate(
        "v => ({t: v.currentTime, err: v.error && v.error.code, src: v.currentSrc})"
    )
    assert at["src"].endswith("/video"), at
    assert at["err"] is None and at["t"] >= start - 0.05, at
