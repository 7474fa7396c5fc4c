"""`python -m herald.services.mailer`"""

from herald.services.mailer.app import create_app
from herald.shared.runtime.service import run

run("mailer", create_app)
