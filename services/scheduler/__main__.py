"""`python -m services.scheduler`"""

import asyncio

from services.scheduler.app import create_app
from shared.service import configure_logging

configure_logging("scheduler")
asyncio.run(create_app().run())
