"""Organisers download every vote of a presentation."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from app.services.export import csv_chunks, export_rows, filename
from app.services.presentations import get_presentation
from app.web import CurrentFacilitator, ServicesDep

router = APIRouter()


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

    name = filename(presentation)
    return StreamingResponse(
        stream(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )
