"""What the renderer's main process imports: every module it loads stays in its RSS for
the life of the pod, so the heavy ones belong only where they are used."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("module", "why"),
    [
        ("weasyprint", "PDFs are printed in the render pool's workers"),
        ("matplotlib", "charts are drawn in the render pool's workers"),
        ("numpy", "matplotlib's, so the workers' too"),
        ("httpx", "only the HTTP report source needs it, and it brings rich, click, pygments"),
    ],
)
def test_the_renderer_main_process_leaves_out(module: str, why: str) -> None:
    code = f"import sys, herald.services.renderer.app; sys.exit({module!r} in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0, why
