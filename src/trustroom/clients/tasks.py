"""Jobs of client records: CSV exports and import syncs."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from ..errors import AppError
from ..i18n import gettext
from ..jobs.service import JobContext, Task, describe_error
from ..storage.blobs import store_from_settings
from ..storage.keyring import SealedKeyring
from .service import exports, imports
from .service.channels import Verifier


def _reason(error: AppError) -> str:
    return gettext(error.text, **error.params)


async def _export(ctx: JobContext, export_id: str) -> dict[str, Any]:
    assert ctx.tenant_id is not None
    run = exports.Run(
        database=ctx.database,
        settings=ctx.settings,
        keyring=SealedKeyring(ctx.keys),
        store=store_from_settings(ctx.settings),
        tenant_id=ctx.tenant_id,
        export_id=UUID(export_id),
    )
    try:
        written = await run.execute()
    except AppError as error:  # a refusal (the schema changed under the filter): no retry helps
        await exports.fail(ctx.session, run, _reason(error))
        return {"failed": error.sub_code}
    except Exception as error:
        if ctx.attempt < EXPORT.max_attempts:
            raise
        await exports.fail(ctx.session, run, describe_error(error))
        return {"failed": describe_error(error)}
    if written is None:
        return {"skipped": "done before"}
    return await exports.finish(ctx.session, run, *written)


EXPORT = Task(exports.EXPORT.name, _export, max_attempts=exports.EXPORT.max_attempts)


async def _import(ctx: JobContext, run_id: str) -> dict[str, Any]:
    assert ctx.tenant_id is not None
    sync = imports.Sync(
        database=ctx.database,
        settings=ctx.settings,
        keyring=SealedKeyring(ctx.keys),
        store=store_from_settings(ctx.settings),
        verifier=Verifier(ctx.keys, ctx.settings.clients),
        tenant_id=ctx.tenant_id,
        run_id=UUID(run_id),
    )
    try:
        await sync.execute()
    except AppError as error:  # the file became unreadable: no retry helps
        await imports.fail(ctx.session, sync.run_id, ctx.tenant_id, _reason(error))
        return {"failed": error.sub_code}
    except Exception as error:
        if ctx.attempt < IMPORT.max_attempts:
            raise  # the next attempt resumes after the last committed batch
        await imports.fail(ctx.session, sync.run_id, ctx.tenant_id, describe_error(error))
        return {"failed": describe_error(error)}
    return await imports.finish(ctx.session, sync.run_id, ctx.tenant_id)


IMPORT = Task(imports.IMPORT.name, _import, max_attempts=imports.IMPORT.max_attempts)
