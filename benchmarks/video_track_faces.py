"""Why video judges tracks by their faces, not their means: per track, the gallery similarity of
its mean embedding and of each of its embedded faces; per pair of unknown tracks, the cosine of
their means against the mean cosine of their faces (what joins them now).

    python benchmarks/video_track_faces.py --video ../shared/data/video/crowd_walking.mp4 --every 3
    python benchmarks/video_track_faces.py --video ../shared/data/video/short_hamilton_clip.mp4 --every 6

The cast is the Hamilton clip's (Lin-Manuel Miranda, Alex Lacamoire, Barack Obama); nobody of it
is in the crowd clip. Prints one line per judged track and per pair of unknown tracks whose
means or faces are at least 0.90 alike.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from faceprint import FaceAnalyzer
from faceprint.embed.base import l2_normalize
from faceprint.video import VideoOptions, cast_gallery, screentime

DATA = Path(os.environ.get("FACEPRINT_DATA", "../shared/data"))
PHOTOS = DATA / "photos" / "face_recognition"
CAST = {
    "Lin-Manuel Miranda": PHOTOS / "lin-manuel-miranda.png",
    "Alex Lacamoire": PHOTOS / "alex-lacamoire.png",
    "Barack Obama": PHOTOS / "obama.jpg",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--video", type=Path, required=True)
    parser.add_argument("--every", type=int, default=3)
    parser.add_argument("--pack", default=None, help="model pack (default: the default pack)")
    args = parser.parse_args()
    fa = FaceAnalyzer(args.pack) if args.pack else FaceAnalyzer()
    with cast_gallery({k: str(v) for k, v in CAST.items()}, fa) as gallery:
        result = screentime(
            args.video, gallery, analyzer=fa, options=VideoOptions(every=args.every)
        )
        print(f"{args.video.name} every {result.every}: threshold {result.threshold:.4f}, "
              f"{result.track_status}")  # fmt: skip
        judged = [t for t in result.tracks if t.status in ("identified", "unknown")]
        for t in judged:
            assert t.embedding is not None and t.face_embeddings is not None
            best = gallery.search(t.embedding[None], top_k=1, thumbnails=False)[0][0]
            faces = gallery.search(t.face_embeddings, top_k=3, thumbnails=False)
            own = [next((m.similarity for m in row if m.name == best.name), float("nan"))
                   for row in faces]  # fmt: skip
            print(f"  {t.label:20s} {t.start:5.2f}-{t.end:5.2f}s  mean: {best.name} "
                  f"{best.similarity:.3f}  its faces: {', '.join(f'{s:.3f}' for s in own)}")  # fmt: skip
    unknown = [t for t in judged if t.status == "unknown"]
    print("pairs of unknown tracks (mean cosine of their means / mean cosine of their faces):")
    for i, a in enumerate(unknown):
        for b in unknown[i + 1 :]:
            assert a.face_embeddings is not None and b.face_embeddings is not None
            means = float(
                l2_normalize(a.face_embeddings.mean(0, keepdims=True))[0]
                @ l2_normalize(b.face_embeddings.mean(0, keepdims=True))[0]
            )
            faces = float((a.face_embeddings @ b.face_embeddings.T).mean())
            if max(means, faces) >= 0.90:
                print(f"  {a.label}({a.start:.2f}-{a.end:.2f}) {b.label}({b.start:.2f}-{b.end:.2f})"
                      f"  means {means:.3f}  faces {faces:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
