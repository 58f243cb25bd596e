# The C accelerator of sentinelle.readers.evtx_records (src/sentinelle/readers/_evtxjson.c).
from typing import Any

def decode_usual(
    text: bytes | bytearray | memoryview | str, /
) -> tuple[dict[str, Any], float | None] | None: ...
