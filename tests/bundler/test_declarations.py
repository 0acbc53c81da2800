"""sse.d.mts (and sse.d.ts) against sse.js: the declarations name what the client implements.

- tsc (pinned in package.json) type-checks tests/bundler/api_types.ts, which uses every
  option and member, and whose ``@ts-expect-error`` lines must each be an error; and
  global_types.ts, the global of a ``<script src="sse.js">`` through sse.d.ts.
- The options the constructor reads, the public properties it sets, the public methods,
  the states and the stop reasons are read from sse.js and must be those the declarations list.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.servers import ROOT

HERE = Path(__file__).resolve().parent
CLIENT = ROOT / "sse" / "static" / "sse"
TSC = ROOT / "node_modules" / ".bin" / "tsc"


def test_tsc_accepts_the_api_and_refuses_its_misuse() -> None:
    if not TSC.exists():
        pytest.fail(f"{TSC} is missing: run `npm ci` at the repository root")
    flags = ["--noEmit", "--strict", "--module", "preserve", "--moduleResolution", "bundler"]
    flags += ["--target", "es2022"]
    done = subprocess.run(
        [str(TSC), *flags, str(HERE / "api_types.ts"), str(HERE / "global_types.ts")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _block(text: str, opening: str) -> str:
    """From the line ``opening`` to the line that closes it, at the same indent."""
    start = text.index(opening)
    indent = len(opening) - len(opening.lstrip(" "))
    return text[start : text.index("\n" + " " * indent + "}", start)]


def _union(declarations: str, name: str) -> set[str]:
    found = re.search(rf"export type {name} = ([^;]+);", declarations)
    assert found, f"no type {name} in sse.d.mts"
    return set(re.findall(r'"(\w+)"', found.group(1)))


def test_the_declarations_name_what_sse_js_implements() -> None:
    js = (CLIENT / "sse.js").read_text()
    dts = (CLIENT / "sse.d.mts").read_text()
    cls = _block(js, "  class SSEStream {")
    ctor = _block(cls, "    constructor(options) {")
    options = _block(dts, "export interface SSEStreamOptions {")
    declared = _block(dts, "export declare class SSEStream<")

    assert set(re.findall(r"\bo\.(\w+)", ctor)) == set(re.findall(r"^  (\w+)\??:", options, re.M))
    properties = {p for p in re.findall(r"this\.(\w+) =", ctor) if not p.startswith("_")}
    assert properties == set(re.findall(r"^  (?:readonly )?(\w+):", declared, re.M))
    methods = {m for m in re.findall(r"^    (\w+)\(", cls, re.M) if not m.startswith("_")} - {"constructor"}
    assert methods == set(re.findall(r"^  (\w+)(?:<.*?>)?\(", declared, re.M)) - {"constructor"}

    states = {s for line in js.splitlines() if "etState(" in line for s in re.findall(r'"(\w+)"', line)}
    assert states == _union(dts, "SSEState")
    reasons = set(re.findall(r'\bstop\("(\w+)"\)', js)) | set(re.findall(r'reason \|\| "(\w+)"', js))
    assert reasons == _union(dts, "SSEStopReason")
