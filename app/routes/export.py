"""Organisers download a presentation's votes: every vote (CSV), the summary (CSV) and the
workbook (.xlsx)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from app.services.export import (
    csv_chunks,
    download_name,
    export_rows,
    filename,
    summary_csv_chunks,
    write_xlsx,
)
from app.services.presentations import get_presentation
from app.web import CurrentFacilitator, ServicesDep

router = APIRouter()

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A workbook is built in a temporary file (spilled to disk past this size) and sent in chunks.
SPOOL_BYTES = 4 * 1024 * 1024
CHUNK_BYTES = 64 * 1024


def _headers(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}


@router.get("/manage/presentations/{presentation_id}/export.csv")
def export_csv(
    presentation_id: int, facilitator: CurrentFacilitator, svc: ServicesDep, excel: bool = False
) -> StreamingResponse:
    with svc.db.session() as session:
        presentation = get_presentation(
            session=session, owner_id=facilitator.id, presentation_id=presentation_id
        )

    def stream() -> Iterator[str]:
        with svc.db.session() as session:
            yield from csv_chunks(
                export_rows(session, presentation), language=presentation.language, excel=excel
            )

    return StreamingResponse(
        stream(), media_type="text/csv; charset=utf-8", headers=_headers(filename(presentation))
    )


@router.get("/manage/presentations/{presentation_id}/summary.csv")
def export_summary(
    presentation_id: int, facilitator: CurrentFacilitator, svc: ServicesDep, excel: bool = False
) -> StreamingResponse:
    with svc.db.session() as session:
        presentation = get_presentation(
            session=session, owner_id=facilitator.id, presentation_id=presentation_id
        )

    def stream() -> Iterator[str]:
        with svc.db.session() as session:
            yield from summary_csv_chunks(session, presentation, excel=excel)

    return StreamingResponse(
        stream(),
        media_type="text/csv; charset=utf-8",
        headers=_headers(download_name(presentation, "summary", "csv")),
    )


@router.get("/manage/presentations/{presentation_id}/export.xlsx")
def export_xlsx(
    presentation_id: int, facilitator: CurrentFacilitator, svc: ServicesDep
) -> StreamingResponse:
    # A plain `def`: FastAPI runs it in its thread pool, so building the workbook never
    # blocks the event loop.
    with svc.db.session() as session:
        presentation = get_presentation(
            session=session, owner_id=facilitator.id, presentation_id=presentation_id
        )
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
        try:
            write_xlsx(session, presentation, spool)
        except BaseException:
            spool.close()
            raise
    spool.seek(0)

    def stream() -> Iterator[bytes]:
        try:
            while chunk := spool.read(CHUNK_BYTES):
                yield chunk
        finally:
            spool.close()

    return StreamingResponse(
        stream(), media_type=XLSX, headers=_headers(download_name(presentation, "", "xlsx"))
    )
