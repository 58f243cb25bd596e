"""Build hook: compiles the optional C accelerator of the EVTX reader.

``src/sentinelle/readers/_evtxjson.c`` is built in place next to its package (so an editable
install finds it too) and shipped in the wheel. A machine without a C compiler still gets a
working install: the hook warns, and the reader uses its pure-Python decoder, which gives the
same fields (tests/readers/test_evtx_records.py runs both).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

_MODULE = "sentinelle.readers._evtxjson"
_SOURCE = "src/sentinelle/readers/_evtxjson.c"


class AcceleratorBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if os.environ.get("SENTINELLE_PURE_PYTHON"):
            self.app.display_info("SENTINELLE_PURE_PYTHON set: the C accelerator is not built")
            return
        try:
            built = _compile(Path(self.root))
        except Exception as exc:  # noqa: BLE001 - any build failure leaves the Python path
            self.app.display_warning(
                f"the EVTX decoder's C accelerator was not built ({exc}); "
                "the pure-Python decoder is used instead"
            )
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        if version != "editable":
            build_data["force_include"][str(built)] = str(built.relative_to(Path(self.root, "src")))


def _compile(root: Path) -> Path:
    from setuptools import Distribution, Extension
    from setuptools.command.build_ext import build_ext

    extension = Extension(_MODULE, [_SOURCE], extra_compile_args=["-O2"])
    distribution = Distribution({"ext_modules": [extension], "package_dir": {"": "src"}})
    command = build_ext(distribution)
    command.inplace = True
    command.build_temp = str(root / "build" / "accelerator")
    command.ensure_finalized()
    cwd = Path.cwd()
    os.chdir(root)  # the extension's paths are relative to the project
    try:
        command.run()
        return root / command.get_ext_fullpath(_MODULE)
    finally:
        os.chdir(cwd)
