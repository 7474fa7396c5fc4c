"""`python -m herald.services.renderer`"""

import asyncio

from herald.services.renderer.app import create_app
from herald.shared.runtime.service import configure_logging

# Guarded: PDF workers are spawned processes, which import this module again.
if __name__ == "__main__":
    configure_logging("renderer")
    asyncio.run(create_app().run())
