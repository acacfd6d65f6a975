"""Exports: the event log with its hashes (JSON Lines), the milestones (CSV), OCDS-style records (JSON)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import IO, Literal, TextIO, cast

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from app.api.deps import BackendDep, UserDep, known_query_only
from app.api.errors import responses
from app.exports import EXPORTERS

router = APIRouter(prefix="/api/exports", tags=["exports"], dependencies=[Depends(known_query_only)])
MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv", "ocds": "application/json"}
SPOOL_BYTES = 1 << 20


@router.get("/{export_format}", response_class=StreamingResponse, responses={
    200: {"description": "The export, streamed", "content": {
        "application/x-ndjson": {"schema": {"type": "string"}},
        "text/csv": {"schema": {"type": "string"}},
        "application/json": {"schema": {"type": "object", "required": ["version", "records"]}},
    }},
    **responses(401, 422),
})
def export(export_format: Literal["jsonl", "csv", "ocds"], backend: BackendDep, user: UserDep) -> StreamingResponse:
    """Every role may export: `jsonl` is the whole log, each event with its hash, as an auditor keeps it."""
    # Written to a spooled file first (memory up to 1 MiB, then disk) so a failure is an error, not half a file.
    spool: IO[str] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, mode="w+", encoding="utf-8")  # noqa: SIM115
    EXPORTERS[export_format](backend.service, cast(TextIO, spool))
    spool.seek(0)
    filename = f"commitments.{'json' if export_format == 'ocds' else export_format}"
    return StreamingResponse(_chunks(spool), media_type=MEDIA_TYPES[export_format],
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _chunks(spool: IO[str]) -> Iterator[str]:
    try:
        while chunk := spool.read(64 * 1024):
            yield chunk
    finally:
        spool.close()
