# The C accelerator of sentinelle.readers.evtx_records (src/sentinelle/readers/_evtxjson.c).
from collections.abc import Callable
from typing import Any

ABI: int

def decode_usual(
    text: bytes | bytearray | memoryview | str, /
) -> tuple[dict[str, Any], float | None] | None: ...
def decode_frame(
    payload: bytes,
    source: str,
    make_event: Callable[..., Any],
    no_flags: tuple[str, ...],
    keep_raw: bool = True,
    /,
) -> tuple[list[Any], list[tuple[int, int, bytes]]]: ...
