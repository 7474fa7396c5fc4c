"""`python -m services.renderer`"""

import asyncio

from services.renderer.app import create_app
from shared.service import configure_logging

# Guarded: PDF workers are spawned processes, which import this module again.
if __name__ == "__main__":
    configure_logging("renderer")
    asyncio.run(create_app().run())
