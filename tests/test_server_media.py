"""Photo-library and video endpoints on real data: a scan job, clusters with contact sheets,
labelling and finding a person's photos; a video upload that becomes a job with progress,
screen time, a timeline and unknown faces; cancelling a job; limits on uploaded videos."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from _server_live import LiveServer
from faceprint.client import Client
from faceprint.library import Library
from faceprint.server import Limits, ServerConfig
from faceprint.server.errors import ApiError
from faceprint.server.routes.videos import _check
from faceprint.server.security import KeyStore

pytestmark = [pytest.mark.data, pytest.mark.slow]

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, photos: Path):
    base = tmp_path_factory.mktemp("media")
    with Library.create(base / "library") as lib:
        lib.scan(photos / "knn_examples" / "train", workers=0)
    store = KeyStore(base / "gallery")
    keys = {"admin": store.add("ops", "admin"), "read": store.add("viewer", "read")}
    limits = Limits(max_video_bytes=2 * MiB, max_video_seconds=60)
    live = LiveServer(
        ServerConfig(gallery=base / "gallery", library=base / "library", workers=1, limits=limits)
    ).start()
    with Client(live.url, keys["admin"]) as fp:
        fp.enroll("Lin-Manuel Miranda", [photos / "lin-manuel-miranda.png"])
    yield live, keys
    live.stop()


def _http(live: LiveServer, key: str) -> httpx.Client:
    return httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {key}"}, timeout=120)


def _wait(http: httpx.Client, job: str, seconds: float = 300) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = http.get(f"/v1/jobs/{job}").json()
        if state["status"] not in ("queued", "running"):
            return state
        time.sleep(0.5)
    raise AssertionError(f"job {job} did not finish")


def test_library_scan_clusters_label_find(env) -> None:
    live, keys = env
    with _http(live, keys["admin"]) as http, _http(live, keys["read"]) as reader:
        status = reader.get("/v1/library/status").json()
        assert status["photos"] == 9 and status["faces"] == 9
        assert reader.post("/v1/library/scan").status_code == 403
        started = http.post("/v1/library/scan", json={"root": "/etc"})  # a body is never a path
        assert started.status_code == 202
        job = _wait(http, started.json()["job"])
        assert job["status"] == "done", job
        assert job["result"]["scan"]["root"] == status["root"]
        clusters = reader.get("/v1/library/clusters").json()["clusters"]
        assert clusters and all(c["size"] >= 1 for c in clusters)
        biggest = clusters[0]
        sheet = reader.get(biggest["sheet_url"])
        assert sheet.status_code == 200 and sheet.content[:8] == b"\x89PNG\r\n\x1a\n"
        face = reader.get(biggest["faces"][0]["thumbnail_url"])
        assert face.status_code == 200 and face.content[:3] == b"\xff\xd8\xff"
        labelled = http.post(
            f"/v1/library/clusters/{biggest['id']}/label", json={"name": "Zoë Ünïcode"}
        )
        assert labelled.status_code == 200 and labelled.json()["name"] == "Zoë Ünïcode"
        found = reader.get("/v1/library/find", params={"name": "Zoë Ünïcode"}).json()["photos"]
        assert len(found) == biggest["size"]
        photo = reader.get(found[0]["url"], params={"max_side": 128})
        assert photo.status_code == 200 and photo.content[:3] == b"\xff\xd8\xff"
        assert reader.get("/v1/library/photos/424242").status_code == 404
        assert reader.get("/v1/library/clusters/424242/sheet.png").status_code == 404
        unknown = reader.get("/v1/library/find", params={"name": "Nobody"})
        assert (
            unknown.status_code == 404 and "no person named" in unknown.json()["error"]["message"]
        )
        assert (
            reader.get(
                "/v1/library/find", params={"name": "Zoë Ünïcode", "from": "last week"}
            ).status_code
            == 400
        )
        assert (
            http.post("/v1/library/clusters/merge", json={"into": 1, "other": 1}).status_code == 400
        )


def test_video_job_screen_time_timeline_unknowns_and_find(env, data_dir: Path) -> None:
    live, keys = env
    clip = data_dir / "video" / "short_hamilton_clip.mp4"
    with _http(live, keys["admin"]) as http, _http(live, keys["read"]) as reader:
        assert (
            reader.post("/v1/videos", files={"video": ("c.mp4", clip.read_bytes())}).status_code
            == 403
        )
        posted = http.post(
            "/v1/videos", files={"video": ("clip.mp4", clip.read_bytes())}, data={"every": "6"}
        )
        assert posted.status_code == 202, posted.text
        job = _wait(http, posted.json()["job"]["id"])
        assert job["status"] == "done", job
        people = {p["name"]: p for p in job["result"]["people"]}
        assert people["Lin-Manuel Miranda"]["seconds"] > 3.0
        assert job["result"]["video"]["path"] == "clip.mp4"  # never the server's path
        timeline = reader.get(f"/v1/jobs/{job['id']}/timeline.png")
        assert timeline.status_code == 200 and timeline.content[:4] == b"\x89PNG"
        unknowns = [n for n in people if n.startswith("unknown_")]
        assert unknowns  # the audience shot's people are not enrolled
        face = reader.get(f"/v1/jobs/{job['id']}/unknowns/{unknowns[0]}.jpg")
        assert face.status_code == 200 and face.content[:3] == b"\xff\xd8\xff"
        assert reader.get(f"/v1/jobs/{job['id']}/unknowns/..%2Fvideo.jpg").status_code == 404
        _enrol_unknown_and_rerun(http, reader, job, unknowns[0], clip)
        video = reader.get(f"/v1/jobs/{job['id']}/video")
        assert video.status_code == 200 and video.content == clip.read_bytes()
        ranges = reader.get("/v1/videos/find", params={"name": "Lin-Manuel Miranda"}).json()[
            "ranges"
        ]
        assert ranges and ranges[0]["video"] == "clip.mp4" and ranges[0]["job"] == job["id"]


def _enrol_unknown_and_rerun(
    http: httpx.Client, reader: httpx.Client, job: dict, unknown: str, clip: Path
) -> None:
    """Name an unknown_N from the faces the job saw (only one whose faces are big enough),
    adding to an enrolled person only with append; the next run names that person."""
    url = f"/v1/jobs/{job['id']}/unknowns/{unknown}/enrol"
    assert reader.post(url, json={"name": "Audience Member"}).status_code == 403
    for bad, status in (({"name": ""}, 422), ({"name": "a\u0000b"}, 400), ({}, 422)):
        assert http.post(url, json=bad).status_code == status, bad
    assert http.post(url, json={"name": "x" * 300}).status_code == 400  # the gallery's rule
    broken = http.post(url, content=b'{"name": ', headers={"Content-Type": "application/json"})
    assert broken.status_code == 422 and "error" in broken.json()
    assert (
        http.post(
            f"/v1/jobs/{job['id']}/unknowns/unknown_999/enrol", json={"name": "X"}
        ).status_code
        == 404
    )
    assert (
        http.post(f"/v1/jobs/nojob/unknowns/{unknown}/enrol", json={"name": "X"}).status_code == 404
    )
    assert (
        http.post(f"/v1/jobs/{job['id']}/unknowns/video/enrol", json={"name": "X"}).status_code
        == 404
    )
    assert all(p["name"] != "X" for p in reader.get("/v1/people").json()["people"])
    # the audience's faces are too small to become templates that do not match strangers
    assert unknown not in job["result"]["enrolable"]
    small = http.post(url, json={"name": "Audience Member"})
    assert small.status_code == 404 and "too small" in small.json()["error"]["message"]
    # with nobody named, Lin-Manuel Miranda is an unknown_N with big faces: enrolable, and
    # adding him to the enrolled Lin-Manuel Miranda is an explicit choice (append)
    nobody = http.post(
        "/v1/videos",
        files={"video": ("clip.mp4", clip.read_bytes())},
        data={"every": "6", "cast": "none"},
    )
    blind = _wait(http, nobody.json()["job"]["id"])
    lin = max(
        (p for p in blind["result"]["people"] if p["name"] in blind["result"]["enrolable"]),
        key=lambda p: p["seconds"],
    )
    url = f"/v1/jobs/{blind['id']}/unknowns/{lin['name']}/enrol"
    people = reader.get("/v1/people").json()["people"]
    lin_id = next(p["id"] for p in people if p["name"] == "Lin-Manuel Miranda")
    before = len(reader.get(f"/v1/people/{lin_id}").json()["templates"])
    taken = http.post(url, json={"name": "Lin-Manuel Miranda"})
    assert taken.status_code == 409, taken.text
    done = http.post(url, json={"name": "Lin-Manuel Miranda", "append": True})
    assert done.status_code == 201, done.text
    assert 1 <= done.json()["added"] <= 3
    again = http.post(url, json={"name": "Someone Else"})
    assert again.status_code == 409 and "Lin-Manuel Miranda" in again.json()["error"]["message"]
    person = reader.get(f"/v1/people/{done.json()['id']}").json()
    assert len(person["templates"]) == before + done.json()["added"]
    rerun = http.post(
        "/v1/videos", files={"video": ("clip.mp4", clip.read_bytes())}, data={"every": "6"}
    )
    second = _wait(http, rerun.json()["job"]["id"])
    names = [p["name"] for p in second["result"]["people"]]
    assert "Lin-Manuel Miranda" in names, names


def test_video_cancel_and_refusals(env) -> None:
    live, keys = env
    with _http(live, keys["admin"]) as http:
        not_video = http.post(
            "/v1/videos",
            files={"video": ("clip.mp4", b"\x00\x00\x00\x18ftypmp42" + b"junk" * 1000)},
        )
        assert not_video.status_code == 415 and "video:" in not_video.json()["error"]["message"]
        assert "/" not in not_video.json()["error"]["message"].split("video:", 1)[1].split("(")[0]
        too_big = http.post("/v1/videos", files={"video": ("big.mp4", b"\x00" * (2 * MiB + 10))})
        assert too_big.status_code == 413
        assert (
            http.post(
                "/v1/videos", files={"video": ("a.mp4", b"x")}, data={"every": "-3"}
            ).status_code
            == 400
        )
        assert (
            http.post(
                "/v1/videos", files={"video": ("a.mp4", b"x")}, data={"cast": "/etc/passwd"}
            ).status_code
            == 400
        )
        assert http.delete("/v1/jobs/doesnotexist").status_code == 404
        jobs = http.get("/v1/jobs").json()["jobs"]
        assert all(
            j["status"] in ("done", "failed", "cancelled", "queued", "running") for j in jobs
        )


def test_cancelled_video_job_stops(env, data_dir: Path) -> None:
    live, keys = env
    clip = data_dir / "video" / "short_hamilton_clip.mp4"
    with _http(live, keys["admin"]) as http:
        posted = http.post(
            "/v1/videos",
            files={"video": ("again.mp4", clip.read_bytes() + b"\0")},
            data={"every": "1"},
        )
        assert posted.status_code == 202, posted.text
        job_id = posted.json()["job"]["id"]
        time.sleep(0.5)
        assert http.delete(f"/v1/jobs/{job_id}").status_code == 204
        assert _wait(http, job_id, 120)["status"] == "cancelled"


def test_video_duration_is_checked_before_analysis(data_dir: Path) -> None:
    with pytest.raises(ApiError) as info:
        _check(data_dir / "video" / "short_hamilton_clip.mp4", max_seconds=5)
    assert info.value.status == 413 and "over the limit of 5 s" in info.value.message
