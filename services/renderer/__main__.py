"""`python -m herald.services.renderer`"""

from herald.services.renderer.app import create_app
from herald.shared.runtime.service import run

# Guarded: PDF workers are spawned processes, which import this module again.
if __name__ == "__main__":
    run("renderer", create_app)
