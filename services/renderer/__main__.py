"""`python -m herald.services.renderer`"""

import os

from herald.services.renderer.app import create_app
from herald.services.renderer.pool import WORKER_ENV
from herald.shared.runtime.service import run

# Guarded: PDF workers are spawned processes, which import this module again.
if __name__ == "__main__":
    for name, value in WORKER_ENV.items():
        os.environ.setdefault(name, value)  # an operator's own value wins
    run("renderer", create_app)
