"""Every table, for Alembic and mapper configuration: this module only imports domain models."""

from .audit import models as audit_models
from .auth import models as auth_models
from .clients import models as clients_models
from .db import Base
from .exchange import models as exchange_models
from .generations import CacheGeneration
from .jobs import models as jobs_models
from .messaging import models as messaging_models
from .signing import models as signing_models
from .storage import models as storage_models
from .webhooks import models as webhooks_models

metadata = Base.metadata

__all__ = [
    "CacheGeneration",
    "audit_models",
    "auth_models",
    "clients_models",
    "exchange_models",
    "jobs_models",
    "messaging_models",
    "metadata",
    "signing_models",
    "storage_models",
    "webhooks_models",
]
