#!/usr/bin/env bash
# Regenerate the pictures of faceprint's own output shown in the documentation (docs/img/):
# a ROC curve of LFW, a screen-time timeline of the Hamilton clip, a contact sheet of a cluster.
# Needs the real data (FACEPRINT_DATA, default ../shared/data) and the dev install. A maintainer
# runs it by hand; no test writes into docs/.
set -euo pipefail
cd "$(dirname "$0")/.."
data="$(cd "${FACEPRINT_DATA:-../shared/data}" && pwd)"
photos="$data/photos/face_recognition"
out="docs/img"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

# ROC (log FAR) and score histograms of LFW's development test pairs (View 1, 1,000 pairs)
faceprint evaluate lfw --data "$data/lfw" --pairs pairsDevTest.txt --plot "$out/roc-lfw.png" --quiet

# screen time of the Hamilton clip, cast given as reference photos
faceprint video screentime "$data/video/short_hamilton_clip.mp4" --quiet \
    --cast "Lin-Manuel Miranda=$photos/lin-manuel-miranda.png" \
    --cast "Alex Lacamoire=$photos/alex-lacamoire.png" \
    --cast "Barack Obama=$photos/obama.jpg" --out "$work/screentime"
cp "$work/screentime/timeline.png" "$out/timeline-hamilton.png"

# a photo library of the knn_examples photos: the largest cluster's contact sheet
faceprint library scan "$photos/knn_examples" --library "$work/lib" --quiet
faceprint library cluster --library "$work/lib" --quiet
faceprint library clusters --library "$work/lib" --sheets "$work/sheets" --limit 1 --quiet
cp "$(ls "$work"/sheets/*.png | head -n 1)" "$out/contact-sheet.png"
ls -l "$out"
