"""`python -m services.renderer`"""

import asyncio

from services.renderer.app import create_app
from shared.service import configure_logging

configure_logging("renderer")
asyncio.run(create_app().run())
