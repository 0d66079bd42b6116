"""`capture`: each exchange as it crossed the proxy's two boundaries, written to files."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from engine.capture.recorder import current
from engine.capture.sink import CaptureSink, MiB
from engine.stage import Answer, Exchange, Stage, StrictModel, stage

Format = Literal["jsonl", "cbor"]


@stage("capture")
class Capture(Stage):
    """Wire capture. Each exchange that reaches it is recorded at the proxy's two
    boundaries: the client's request, every upstream request and the upstream's answer
    (its bytes and each chunk's time), and what the client got; as JSON Lines (`*.jsonl`)
    and/or CBOR (`*.cbor`, raw bytes kept as bytes) under `dir`, one file per session or
    rotated by size, with a total-size cap that deletes the oldest files. Credentials are
    redacted (the `redact_secrets` shapes, every backend key, credential headers) unless
    `redact: false`. Writing is off the hot path: a bounded queue and a writer thread; a
    slow, full or failing disk drops records and counts them (`/metrics`), and the proxy
    serves on. Usually declared under `pipeline: request:`. `engine capture show FILE`
    summarizes a capture."""

    class Config(StrictModel):
        """Where and how the records are written."""

        dir: str = Field(default="captures", description="the folder the files go in")
        formats: list[Format] = Field(
            default_factory=lambda: list[Format](["jsonl"]),
            min_length=1,
            description="file formats",
        )
        per_session: bool = Field(default=False, description="one file per session")
        max_file_mb: int = Field(default=64, ge=1, description="a file's size before the next")
        max_total_mb: int = Field(default=1024, ge=1, description="all files together, at most")
        queue_size: int = Field(default=1000, ge=1, description="records waiting, at most")
        redact: bool = Field(default=True, description="hide credentials in the records")

    config: Config

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._sink: CaptureSink | None = None  # opened on first use, not at load

    async def on_request(self, ctx: Exchange) -> Answer | None:
        """Have this exchange's recording written by this stage's sink."""
        recording = current.get()
        if recording is not None:
            recording.sink = self._opened()
        return None

    def counters(self) -> dict[str, dict[str, int]]:
        """Records written and dropped (by why: `full`, `error`, `closed`)."""
        if self._sink is None:
            return {}
        return {"written": {"records": self._sink.written}, "dropped": dict(self._sink.dropped)}

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until what was offered so far is written (or dropped); whether it was."""
        return self._sink.flush(timeout) if self._sink is not None else True

    async def aclose(self) -> None:
        """Write what is queued, and close the files."""
        if self._sink is not None:
            await self._sink.aclose()

    def _opened(self) -> CaptureSink:
        if self._sink is None:
            config = self.config
            self._sink = CaptureSink(
                Path(config.dir).expanduser(),
                formats=tuple(config.formats),
                per_session=config.per_session,
                max_file_bytes=config.max_file_mb * MiB,
                max_total_bytes=config.max_total_mb * MiB,
                queue_size=config.queue_size,
                redact=config.redact,
            )
        return self._sink


__all__ = ["Capture"]
