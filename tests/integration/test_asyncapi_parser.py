"""The official AsyncAPI parser (`@asyncapi/parser`, on Node) reads docs/asyncapi.yaml cleanly.

What a platform's tooling would run first. The parser is installed by npm, pinned, into
Herald's cache (`$HERALD_CACHE`, default ~/.cache/herald), outside the checkout, once;
install scripts are not run. A machine without Node and npm fails here, saying so.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.asyncapi_document import PATH

pytestmark = pytest.mark.integration

PARSER = "@asyncapi/parser@3.6.6"
NODE_DIR = Path(os.environ.get("HERALD_CACHE", Path.home() / ".cache" / "herald")) / "node"
#: Prints the parser's diagnostics as JSON (severity 0 error, 1 warning, 2 info, 3 hint).
PARSE = """
const { Parser, fromFile } = require('@asyncapi/parser');
fromFile(new Parser(), process.argv[1]).parse().then(({ diagnostics }) => console.log(
  JSON.stringify(diagnostics.map(d => ({
    severity: d.severity, code: d.code, message: d.message, path: d.path.join('/'),
  })))
));
"""


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"`{name}` is not on PATH: the AsyncAPI parser needs Node.js and npm")
    return found


def _parser_modules() -> Path:
    """The parser's node_modules, installed on first use."""
    prefix = NODE_DIR / "asyncapi-parser"
    modules = prefix / "node_modules"
    if not (modules / "@asyncapi" / "parser" / "package.json").exists():
        installed = subprocess.run(
            [
                _tool("npm"),
                "install",
                "--prefix",
                str(prefix),
                "--cache",
                str(NODE_DIR / "npm-cache"),
                "--ignore-scripts",
                "--no-audit",
                "--no-fund",
                PARSER,
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert installed.returncode == 0, f"npm install {PARSER} failed:\n{installed.stderr}"
    return modules


def test_the_official_parser_reports_no_error_and_no_warning() -> None:
    modules = _parser_modules()
    parsed = subprocess.run(
        [_tool("node"), "-e", PARSE, str(PATH)],
        env=os.environ | {"NODE_PATH": str(modules)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert parsed.returncode == 0, parsed.stderr
    diagnostics = json.loads(parsed.stdout)
    # Information and hints ("AsyncAPI 3.1.0 exists") are left.
    assert [d for d in diagnostics if d["severity"] <= 1] == []
