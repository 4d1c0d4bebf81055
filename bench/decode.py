"""Benchmark: raw pyzbar, zxing-cpp, OpenCV's QR detector and our decoder side by side on labelled image folders.

Each folder holds images (.jpg, .png, .bmp, .webp) with NAME.txt beside them: the expected text (a payment
code, or the text of any other code, such as a URL or a product barcode); empty or missing = nothing to read.
Every decoder gets the same grayscale frame and the same scoring:

- expected is a payment code: correct when the payment codes read are exactly {expected};
- expected is other text: correct when that text is among the texts read and no payment code is;
- nothing expected: correct when no payment code is read.

A false positive is any payment code read other than the expected one (that would be a wrong charge). A
decoder raising on an image is a miss counted with its error, and the run goes on. After the per-folder
table come each decoder's medians on 1280x720 frames with a payment code and on empty ones (the timing
targets), wall and CPU time, and its slowest frame.

    python bench/decode.py DIR [DIR ...] [--json]
    python bench/decode.py --generate 40 [--seed 1] [--categories closeup,far] [--only ours,zxing_cpp] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from camera.codes import CodeKind, classify
from camera.decode import Decoder, DecoderConfig
from camera.engines import zxing_available
from camera.synthetic import CATEGORIES, write_set

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
Reader = Callable[[np.ndarray], list[str]]


def _gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def raw_pyzbar() -> Reader:
    from pyzbar import pyzbar

    symbols = [pyzbar.ZBarSymbol.QRCODE, pyzbar.ZBarSymbol.CODE128]
    return lambda image: [found.data.decode("utf-8", "replace") for found in pyzbar.decode(_gray(image), symbols)]


def raw_zxing() -> Reader:
    """zxing-cpp as its users call it, on the whole frame: every option at its default but the text mode.

    Plain text mode: the code's bytes as text, without the human-readable decorations of the default mode.
    """
    import zxingcpp

    formats = zxingcpp.BarcodeFormats((zxingcpp.BarcodeFormat.QRCode, zxingcpp.BarcodeFormat.Code128))
    return lambda image: [
        found.text for found in zxingcpp.read_barcodes(_gray(image), formats=formats, text_mode=zxingcpp.TextMode.Plain)
    ]


def opencv_qr() -> Reader:
    detector = cv2.QRCodeDetector()

    def read(image: np.ndarray) -> list[str]:
        # detectAndDecodeMulti trips an assertion in OpenCV 5.0's kmeans on some frames; the single-code
        # detector is what a terminal would use anyway.
        text, _points, _ = detector.detectAndDecode(_gray(image))
        return [text] if text else []

    return read


def ours(decoder: Decoder) -> Reader:
    return lambda image: [symbol.text for symbol in decoder.decode(image).symbols]


def readers() -> dict[str, Reader]:
    chosen = {"pyzbar_full_frame": raw_pyzbar()}
    if zxing_available():
        chosen["zxing_cpp"] = raw_zxing()
    chosen["opencv_qr"] = opencv_qr()
    chosen["ours"] = ours(Decoder())  # the default pipeline: what `python -m camera` and `gateway serve` run
    chosen["ours_zbar_only"] = ours(Decoder(DecoderConfig(zxing_fallback=False)))
    return chosen


def labelled_images(folder: Path) -> list[tuple[Path, str]]:
    images = sorted(path for path in folder.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES)
    return [(image, _expected_text(image.with_suffix(".txt"))) for image in images]


def _expected_text(label: Path) -> str:
    return label.read_text(encoding="utf-8", errors="replace").strip() if label.exists() else ""


def read_image(path: Path) -> np.ndarray | None:
    """The image as 8-bit BGR; through Pillow when OpenCV cannot read it; None when neither can."""
    image = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)
    if image is not None:
        return image
    try:
        from PIL import Image

        with Image.open(path) as opened:
            return cv2.cvtColor(np.asarray(opened.convert("RGB")), cv2.COLOR_RGB2BGR)
    except Exception:
        return None


def score(texts: list[str], expected: str) -> tuple[bool, bool]:
    """(correct, false positive) for what a decoder read from one image."""
    codes = {text for text in texts if classify(text) is CodeKind.PAYMENT_CODE}
    false_positive = bool(codes - {expected})
    if not expected:
        return not codes, false_positive
    if classify(expected) is CodeKind.PAYMENT_CODE:
        return codes == {expected}, false_positive
    return expected in {text.strip() for text in texts} and not codes, false_positive


# Per decoder, each image's (frame kind, wall ms, CPU ms): "code" when a payment code is expected, "empty"
# when nothing is, "other" for other codes; only 1280x720 frames, the size the timing targets are set for.
Timings = dict[str, list[tuple[str, float, float]]]


def frame_kind(expected: str) -> str:
    if not expected:
        return "empty"
    return "code" if classify(expected) is CodeKind.PAYMENT_CODE else "other"


def bench_folder(folder: Path, chosen: dict[str, Reader], timings_720p: Timings) -> dict[str, dict[str, float]]:
    samples = [(path, read_image(path), expected) for path, expected in labelled_images(folder)]
    figures: dict[str, dict[str, float]] = {}
    for name, read in chosen.items():
        correct = false_positives = unreadable = 0
        errors: dict[str, int] = {}
        timings, cpu_timings = [], []
        for _path, image, expected in samples:
            if image is None:
                unreadable += 1
                continue
            start, cpu_start = time.perf_counter(), time.thread_time()
            try:
                texts = read(image)
            except Exception as error:  # one image must not end the run: a miss, counted with its error
                texts = []
                errors[type(error).__name__] = errors.get(type(error).__name__, 0) + 1
            timings.append((time.perf_counter() - start) * 1000.0)
            cpu_timings.append((time.thread_time() - cpu_start) * 1000.0)
            if image.shape[:2] == (720, 1280):
                timings_720p.setdefault(name, []).append((frame_kind(expected), timings[-1], cpu_timings[-1]))
            is_correct, is_false_positive = score(texts, expected)
            correct += is_correct
            false_positives += is_false_positive
        figures[name] = {
            "correct": correct,
            "total": len(samples),
            "false_positives": false_positives,
            "errors": sum(errors.values()),
            "error_kinds": ",".join(f"{kind}:{count}" for kind, count in sorted(errors.items())),  # type: ignore[dict-item]
            "unreadable_images": unreadable,
            "median_ms": round(statistics.median(timings), 2) if timings else 0.0,
            "p95_ms": round(float(np.percentile(timings, 95)), 2) if timings else 0.0,
            "max_ms": round(max(timings), 2) if timings else 0.0,
            # CPU time of this thread: what the decoder costs when the machine is shared with other work.
            "cpu_median_ms": round(statistics.median(cpu_timings), 2) if cpu_timings else 0.0,
            "cpu_max_ms": round(max(cpu_timings), 2) if cpu_timings else 0.0,
        }
    return figures


def print_table(results: dict[str, dict[str, dict[str, float]]]) -> None:
    """One line per folder and decoder, then the totals and each decoder's slowest frame."""
    header = f"{'folder':<16} {'decoder':<18} {'correct':>9} {'fp':>3} {'err':>4} {'median ms':>10} {'p95 ms':>8}"
    print(f"{header} {'max ms':>8} {'cpu med':>8} {'cpu max':>8}")
    totals: dict[str, dict[str, float]] = {}
    for folder, by_decoder in results.items():
        for name, figures in by_decoder.items():
            score_text = f"{figures['correct']}/{figures['total']}"
            line = (
                f"{folder:<16} {name:<18} {score_text:>9} {figures['false_positives']:>3} {figures['errors']:>4} "
                f"{figures['median_ms']:>10.2f} {figures['p95_ms']:>8.2f} {figures['max_ms']:>8.2f} "
                f"{figures['cpu_median_ms']:>8.2f} {figures['cpu_max_ms']:>8.2f}"
            )
            print(f"{line}  {figures['error_kinds']}".rstrip())
            total = totals.setdefault(name, dict.fromkeys(("correct", "total", "false_positives", "errors"), 0.0))
            for key in ("correct", "total", "false_positives", "errors"):
                total[key] += figures[key]
            total["max_ms"] = max(total.get("max_ms", 0.0), figures["max_ms"])
    for name, total in totals.items():
        share = 100 * total["correct"] / total["total"] if total["total"] else 0.0
        score_text = f"{total['correct']:.0f}/{total['total']:.0f}"
        print(
            f"{'ALL':<16} {name:<18} {score_text:>9} {total['false_positives']:>3.0f} {total['errors']:>4.0f} "
            f"{share:>9.1f}%  worst frame {total['max_ms']:.2f} ms"
        )


def print_timing(timings_720p: Timings) -> None:
    """Each decoder's median time on 720p frames with a payment code and on empty ones, and its slowest."""
    print(f"\n{'720p frames':<16} {'decoder':<18} {'code med':>9} {'empty med':>10} {'worst':>8}   (ms wall / CPU)")
    for name, rows in timings_720p.items():
        by_kind = {kind: [row for row in rows if row[0] == kind] for kind in ("code", "empty")}
        medians = [
            f"{statistics.median(r[1] for r in kind_rows):.2f}/{statistics.median(r[2] for r in kind_rows):.2f}"
            if kind_rows
            else "-"
            for kind_rows in by_kind.values()
        ]
        worst = max(rows, key=lambda row: row[1])
        print(f"{'':<16} {name:<18} {medians[0]:>9} {medians[1]:>10} {worst[1]:>5.2f}/{worst[2]:.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="*", type=Path)
    parser.add_argument("--generate", type=int, metavar="N", help="generate N images per category to a temp dir")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--categories", help="comma-separated generated categories (default: all)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of all figures")
    parser.add_argument("--only", help="comma-separated decoder names to run (default: all)")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)  # the targets are single-threaded; OpenCV's pool would also hide CPU time
    with tempfile.TemporaryDirectory(prefix="camera-bench-") as scratch:
        folders = list(args.folders)
        if args.generate:
            categories = CATEGORIES
            if args.categories:
                wanted = set(args.categories.split(","))
                categories = tuple(category for category in CATEGORIES if category.name in wanted)
            folders += write_set(Path(scratch), args.generate, args.seed, categories)
        if not folders:
            parser.error("give image folders or --generate N")
        chosen = readers()
        if args.only:
            chosen = {name: read for name, read in chosen.items() if name in args.only.split(",")}
        timings_720p: Timings = {}
        results = {folder.name: bench_folder(folder, chosen, timings_720p) for folder in folders}
    print_table(results)
    print_timing(timings_720p)
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
