"""Pipeline tests: confirmation and de-duplication, newest frame wins, sources that end or vanish."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from camera.decode import Decoder, DecodeResult, FrameStatus
from camera.pipeline import (
    CodeConfirmer,
    CodePipeline,
    EventKind,
    LatestFrameSlot,
    PipelineEvent,
    PipelineSettings,
)
from camera.sources import Frame, ImageFolderSource, PushSource, SourceLost, VideoCaptureSource, open_source
from camera.synthetic import CATEGORIES, generate


class ListSource:
    """A recorded source over prepared frames, optionally vanishing after them."""

    def __init__(self, frames: list[bytes], vanish: bool = False) -> None:
        self.name = "list"
        self.live = False
        self._frames = list(frames)
        self._vanish = vanish
        self._index = 0

    def read(self) -> Frame | None:
        if self._index == len(self._frames):
            if self._vanish:
                raise SourceLost("camera unplugged")
            return None
        self._index += 1
        return Frame(self._index, time.monotonic(), encoded=self._frames[self._index - 1])

    def close(self) -> None:
        self._index = len(self._frames)


def run_collecting(pipeline: CodePipeline) -> list[PipelineEvent]:
    events: list[PipelineEvent] = []
    pipeline.run(events.append)
    return events


def codes_of(events: list[PipelineEvent]) -> list[str | None]:
    return [event.code for event in events if event.kind is EventKind.CODE]


def test_same_code_in_30_frames_is_emitted_once(clean_sample, make_decoder) -> None:
    events = run_collecting(CodePipeline(ListSource([clean_sample.jpeg] * 30), decoder_factory=make_decoder))
    assert codes_of(events) == [clean_sample.expected]
    assert sum(event.kind is EventKind.FRAME for event in events) == 30
    assert events[-1].kind is EventKind.SOURCE_ENDED


def test_a_code_seen_in_a_single_frame_is_not_emitted(clean_sample, encode_jpeg, make_decoder) -> None:
    blank = encode_jpeg(np.full((720, 1280, 3), 128, np.uint8))
    events = run_collecting(
        CodePipeline(ListSource([blank, clean_sample.jpeg, blank, blank]), decoder_factory=make_decoder)
    )
    assert codes_of(events) == []


def test_bad_frames_get_statuses_and_the_stream_goes_on(clean_sample, encode_jpeg, make_decoder) -> None:
    frames = [b"\xff\xd8garbage", b"not an image", clean_sample.jpeg, clean_sample.jpeg]
    events = run_collecting(CodePipeline(ListSource(frames), decoder_factory=make_decoder))
    statuses = [event.status for event in events if event.kind is EventKind.FRAME]
    assert statuses == [
        FrameStatus.CORRUPT_IMAGE,
        FrameStatus.UNSUPPORTED_FORMAT,
        FrameStatus.PAYMENT_CODE,
        FrameStatus.PAYMENT_CODE,
    ]
    assert codes_of(events) == [clean_sample.expected]


def test_a_crashing_decoder_is_a_status_not_a_crash(clean_sample) -> None:
    class BrokenDecoder(Decoder):
        def decode_bytes(self, data: bytes) -> DecodeResult:
            raise RuntimeError("driver bug")

    events = run_collecting(CodePipeline(ListSource([clean_sample.jpeg] * 3), decoder_factory=BrokenDecoder))
    assert [event.status for event in events if event.kind is EventKind.FRAME] == [FrameStatus.DECODE_ERROR] * 3
    assert events[-1].kind is EventKind.SOURCE_ENDED


def test_confirmer_needs_two_of_the_last_frames_and_repeats_after_the_window() -> None:
    now = [0.0]
    confirmer = CodeConfirmer(PipelineSettings(confirm_frames=2, history_frames=5, repeat_after_s=10), lambda: now[0])
    seen = [confirmer.observe(code) for code in ["A", None, None, None, None, None, "A"]]
    assert seen == [None] * 7  # two sightings further apart than the history are two flukes
    assert confirmer.observe("A") == "A"
    assert [confirmer.observe("A") for _ in range(30)] == [None] * 30
    now[0] = 11.0
    assert confirmer.observe("A") == "A"
    assert confirmer.observe("B") is None
    assert confirmer.observe("B") == "B"


def test_slot_keeps_only_the_newest_frame() -> None:
    slot = LatestFrameSlot()
    for index in range(1, 6):
        slot.put(Frame(index, 0.0))
    taken = slot.take()
    assert taken is not None and taken.index == 5
    assert slot.dropped == 4
    slot.close()
    assert slot.take() is None


def test_live_source_faster_than_the_decoder_drops_stale_frames(clean_sample) -> None:
    class SlowDecoder(Decoder):
        def decode_bytes(self, data: bytes) -> DecodeResult:
            time.sleep(0.02)
            return DecodeResult(FrameStatus.NO_CODE)

    class FastLiveSource(ListSource):
        def read(self) -> Frame | None:
            time.sleep(0.001)
            return super().read()

    source = FastLiveSource([clean_sample.jpeg] * 200)
    source.live = True
    events = run_collecting(CodePipeline(source, decoder_factory=SlowDecoder))
    decoded = [event.frame_index for event in events if event.kind is EventKind.FRAME]
    assert len(decoded) < 100
    assert decoded == sorted(decoded)
    assert max(event.frames_dropped for event in events) + len(decoded) == 200


def test_source_disappearing_is_reported(clean_sample, make_decoder) -> None:
    events = run_collecting(
        CodePipeline(ListSource([clean_sample.jpeg] * 3, vanish=True), decoder_factory=make_decoder)
    )
    assert codes_of(events) == [clean_sample.expected]
    assert events[-1].kind is EventKind.SOURCE_LOST
    assert "unplugged" in events[-1].detail


def write_frames(folder: Path, frames: list[bytes]) -> None:
    folder.mkdir()
    for index, data in enumerate(frames):
        (folder / f"{index:03d}.jpg").write_bytes(data)


def test_folder_source_reads_images_in_name_order(tmp_path: Path, clean_sample, make_decoder) -> None:
    write_frames(tmp_path / "frames", [clean_sample.jpeg] * 4)
    (tmp_path / "frames" / "notes.txt").write_text("ignored")
    events = run_collecting(CodePipeline(ImageFolderSource(tmp_path / "frames"), decoder_factory=make_decoder))
    assert [event.frame_index for event in events if event.kind is EventKind.FRAME] == [1, 2, 3, 4]
    assert codes_of(events) == [clean_sample.expected]
    assert events[-1].kind is EventKind.SOURCE_ENDED


def test_folder_removed_while_reading_is_a_lost_source(tmp_path: Path, clean_sample) -> None:
    write_frames(tmp_path / "frames", [clean_sample.jpeg] * 3)
    source = ImageFolderSource(tmp_path / "frames")
    assert source.read() is not None
    shutil.rmtree(tmp_path / "frames")
    with pytest.raises(SourceLost):
        source.read()


def test_missing_folder_or_file_cannot_be_opened(tmp_path: Path) -> None:
    with pytest.raises(SourceLost):
        ImageFolderSource(tmp_path / "absent")
    with pytest.raises(SourceLost):
        VideoCaptureSource(str(tmp_path / "absent.avi"))


def test_video_file_source(tmp_path: Path, clean_sample, make_decoder) -> None:
    path = tmp_path / "counter.avi"
    frame = clean_sample.image()
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10, (frame.shape[1], frame.shape[0]))
    assert writer.isOpened()
    blank = np.full_like(frame, 90)
    for image in [blank, blank] + [frame] * 8 + [blank]:
        writer.write(image)
    writer.release()
    source = open_source(str(path))
    assert isinstance(source, VideoCaptureSource) and not source.live
    events = run_collecting(CodePipeline(source, decoder_factory=make_decoder))
    assert sum(event.kind is EventKind.FRAME for event in events) == 11
    assert codes_of(events) == [clean_sample.expected]
    assert events[-1].kind is EventKind.SOURCE_ENDED


def test_open_source_picks_the_source_kind(tmp_path: Path) -> None:
    assert isinstance(open_source(str(tmp_path)), ImageFolderSource)


async def test_push_source_feeds_the_pipeline_from_the_event_loop(clean_sample, make_decoder) -> None:
    source = PushSource()
    pipeline = CodePipeline(source, decoder_factory=make_decoder)
    events: list[PipelineEvent] = []

    async def consume() -> None:
        async for event in pipeline.events():
            events.append(event)

    consumer = asyncio.create_task(consume())
    for _ in range(10):
        source.push(clean_sample.jpeg)
        await asyncio.sleep(0.05)
    source.close()
    await asyncio.wait_for(consumer, 10)
    assert codes_of(events) == [clean_sample.expected]
    assert events[-1].kind is EventKind.SOURCE_ENDED


async def test_push_client_disconnecting_is_a_lost_source(clean_sample, make_decoder) -> None:
    source = PushSource()
    pipeline = CodePipeline(source, decoder_factory=make_decoder)
    source.push(clean_sample.jpeg)
    source.disconnect()
    events = [event async for event in pipeline.events()]
    assert events[-1].kind is EventKind.SOURCE_LOST


def test_push_source_keeps_the_newest_unread_frame() -> None:
    source = PushSource()
    for payload in (b"1", b"2", b"3"):
        source.push(payload)
    frame = source.read()
    assert frame is not None and frame.encoded == b"3"
    assert source.dropped == 2


def test_stopping_a_pipeline_waiting_on_a_silent_client_returns(make_decoder) -> None:
    source = PushSource()
    pipeline = CodePipeline(source, decoder_factory=make_decoder)
    runner = threading.Thread(target=pipeline.run, args=(lambda event: None,))
    runner.start()
    time.sleep(0.05)
    pipeline.stop()
    runner.join(timeout=5)
    assert not runner.is_alive()


def test_generated_sets_are_deterministic() -> None:
    category = CATEGORIES[3]
    assert generate(category, 7) == generate(category, 7)
    assert generate(category, 7).jpeg != generate(category, 8).jpeg
