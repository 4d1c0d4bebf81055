"""Benchmark: raw pyzbar, zxing-cpp, OpenCV's QR detector and our decoder side by side on labelled image folders.

Each folder holds images with NAME.txt beside them (the expected payment code; empty or missing = none).
A decoder's answer for a frame is the set of payment codes it read (same classifier for every decoder):
correct when that set is exactly {expected} (or empty when none is expected); a false positive when it
holds any code other than the expected one.

    python bench/decode.py DIR [DIR ...] [--json]
    python bench/decode.py --generate 20 [--seed 1] [--json]
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
from camera.synthetic import write_set

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
Reader = Callable[[np.ndarray], list[str]]


def _gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def raw_pyzbar() -> Reader:
    from pyzbar import pyzbar

    symbols = [pyzbar.ZBarSymbol.QRCODE, pyzbar.ZBarSymbol.CODE128]
    return lambda image: [found.data.decode("utf-8", "replace") for found in pyzbar.decode(_gray(image), symbols)]


def raw_zxing() -> Reader:
    import zxingcpp

    return lambda image: [found.text for found in zxingcpp.read_barcodes(_gray(image))]


def opencv_qr() -> Reader:
    detector = cv2.QRCodeDetector()

    def read(image: np.ndarray) -> list[str]:
        # detectAndDecodeMulti trips an assertion in OpenCV 5.0's kmeans on some frames; the single-code
        # detector is what a terminal would use anyway. A failure inside OpenCV counts as a miss.
        try:
            text, _points, _ = detector.detectAndDecode(_gray(image))
        except cv2.error:
            return []
        return [text] if text else []

    return read


def ours(decoder: Decoder) -> Reader:
    return lambda image: [symbol.text for symbol in decoder.decode(image).symbols]


def readers() -> dict[str, Reader]:
    chosen = {"pyzbar_full_frame": raw_pyzbar()}
    if zxing_available():
        chosen["zxing_cpp"] = raw_zxing()
    chosen["opencv_qr"] = opencv_qr()
    chosen["ours"] = ours(Decoder())
    chosen["ours_zbar_only"] = ours(Decoder(DecoderConfig(zxing_fallback=False)))
    return chosen


def labelled_images(folder: Path) -> list[tuple[Path, str]]:
    images = sorted(path for path in folder.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES)
    return [(image, _expected_text(image.with_suffix(".txt"))) for image in images]


def _expected_text(label: Path) -> str:
    return label.read_text().strip() if label.exists() else ""


def bench_folder(folder: Path, chosen: dict[str, Reader]) -> dict[str, dict[str, float]]:
    samples = [(cv2.imread(str(path), cv2.IMREAD_COLOR), expected) for path, expected in labelled_images(folder)]
    figures = {}
    for name, read in chosen.items():
        correct = false_positives = 0
        timings, cpu_timings = [], []
        for image, expected in samples:
            start, cpu_start = time.perf_counter(), time.thread_time()
            texts = read(image)
            timings.append((time.perf_counter() - start) * 1000.0)
            cpu_timings.append((time.thread_time() - cpu_start) * 1000.0)
            codes = {text for text in texts if classify(text) is CodeKind.PAYMENT_CODE}
            correct += codes == ({expected} if expected else set())
            false_positives += bool(codes - {expected})
        figures[name] = {
            "correct": correct,
            "total": len(samples),
            "false_positives": false_positives,
            "median_ms": round(statistics.median(timings), 2) if timings else 0.0,
            "p95_ms": round(float(np.percentile(timings, 95)), 2) if timings else 0.0,
            # CPU time of this thread: what the decoder costs when the machine is shared with other work.
            "cpu_median_ms": round(statistics.median(cpu_timings), 2) if cpu_timings else 0.0,
        }
    return figures


def print_table(results: dict[str, dict[str, dict[str, float]]]) -> None:
    print(f"{'folder':<14} {'decoder':<18} {'correct':>9} {'fp':>3} {'median ms':>10} {'p95 ms':>8} {'cpu med':>8}")
    totals: dict[str, list[float]] = {}
    for folder, by_decoder in results.items():
        for name, figures in by_decoder.items():
            score = f"{figures['correct']}/{figures['total']}"
            print(
                f"{folder:<14} {name:<18} {score:>9} {figures['false_positives']:>3} "
                f"{figures['median_ms']:>10.2f} {figures['p95_ms']:>8.2f} {figures['cpu_median_ms']:>8.2f}"
            )
            total = totals.setdefault(name, [0, 0, 0])
            total[0] += figures["correct"]
            total[1] += figures["total"]
            total[2] += figures["false_positives"]
    for name, (correct, total, false_positives) in totals.items():
        print(f"{'ALL':<14} {name:<18} {f'{correct}/{total}':>9} {false_positives:>3} {100 * correct / total:>9.1f}%")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="*", type=Path)
    parser.add_argument("--generate", type=int, metavar="N", help="generate N images per category to a temp dir")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="end with one JSON line of all figures")
    parser.add_argument("--only", help="comma-separated decoder names to run (default: all)")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)  # the targets are single-threaded; OpenCV's pool would also hide CPU time
    with tempfile.TemporaryDirectory(prefix="camera-bench-") as scratch:
        folders = list(args.folders)
        if args.generate:
            folders += write_set(Path(scratch), args.generate, args.seed)
        if not folders:
            parser.error("give image folders or --generate N")
        chosen = readers()
        if args.only:
            chosen = {name: read for name, read in chosen.items() if name in args.only.split(",")}
        results = {folder.name: bench_folder(folder, chosen) for folder in folders}
    print_table(results)
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
