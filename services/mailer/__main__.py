"""`python -m services.mailer`"""

import asyncio

from services.mailer.app import create_app
from shared.service import configure_logging

configure_logging("mailer")
asyncio.run(create_app().run())
