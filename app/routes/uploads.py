"""Images of content slides: the facilitator's upload page, and the images themselves.

The upload page works like the other facilitator forms (login, the owner's slides only, a CSRF
token), but reads its multipart body itself: a declared length over the limit is refused before
anything is read, and the file is read no further than the limit.
"""

from __future__ import annotations

import re
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session
from starlette.datastructures import UploadFile

from app.errors import Refused
from app.services import NotFound
from app.services import presentations as svc_p
from app.services import uploads as svc_u
from app.services.presentations import EditError
from app.web import (
    CurrentFacilitator,
    Facilitator,
    ServicesDep,
    SessionDep,
    blocking,
    page,
    see_other,
)

router = APIRouter()

# The upload form's path, and the largest body it takes: the image and the few fields around
# it. The body limit of app/middleware.py is lower for every other path.
IMAGE_PATH = re.compile(r"/manage/questions/\d+/image")
MAX_IMAGE_BODY = svc_u.MAX_IMAGE_BYTES + 64 * 1024
# Ids are never reused and an address carries its image's digest: what it serves never changes.
IMAGE_CACHE = "public, max-age=31536000, immutable"


def _image_page(
    request: Request,
    facilitator: Facilitator,
    session: Session,
    question_id: int,
    error: Refused | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    question = svc_u.content_slide(
        session=session, owner_id=facilitator.id, question_id=question_id
    )
    presentation = svc_p.get_presentation(
        session=session, owner_id=facilitator.id, presentation_id=question.presentation_id
    )
    return page(
        request,
        "manage/image.html",
        facilitator.language,
        status_code=status_code,
        facilitator=facilitator,
        csrf=facilitator.auth.csrf_token,
        question=question,
        presentation=presentation,
        error=error.text(facilitator.language) if error else None,
        max_mb=svc_u.MAX_IMAGE_BYTES // 2**20,
        max_side=svc_u.MAX_SIDE,
        phone_kb=svc_u.PHONE_IMAGE_BYTES // 1024,
    )


def image_too_large() -> EditError:
    return EditError("The image is too large: at most %(n)s MB.", n=svc_u.MAX_IMAGE_BYTES // 2**20)


async def read_image_form(
    request: Request, facilitator: Facilitator, field: str, max_body: int
) -> tuple[str | None, bytes] | Response | None:
    """An image form post (a content slide's image, a presentation's logo): its action and the
    file's bytes (at most one byte over the limit, enough to know it is too large).

    None: the declared body is over `max_body`, refused before a byte of it is read (the CSRF
    token is in the unread body, but refusing changes nothing). A Response: the CSRF check
    failed.
    """
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_body:
        return None
    form = await request.form(max_files=1, max_fields=8, max_part_size=16 * 1024)
    try:
        sent = form.get("csrf_token")
        token = sent if isinstance(sent, str) else request.headers.get("x-csrf-token", "")
        if not secrets.compare_digest(token.encode(), facilitator.auth.csrf_token.encode()):
            return Response("CSRF token missing or wrong", status_code=403)
        action = form.get("action")
        file = form.get(field)
        data = b""
        if action != "remove" and isinstance(file, UploadFile):
            data = await file.read(svc_u.MAX_IMAGE_BYTES + 1)
    finally:
        await form.close()
    return (action if isinstance(action, str) else None), data


@router.get("/manage/questions/{question_id}/image", response_class=HTMLResponse)
def image_page(
    request: Request, question_id: int, facilitator: CurrentFacilitator, session: SessionDep
) -> HTMLResponse:
    return _image_page(request, facilitator, session, question_id)


@router.post("/manage/questions/{question_id}/image")
async def change_image(
    request: Request, question_id: int, facilitator: CurrentFacilitator, svc: ServicesDep
) -> Response:
    """Upload, replace (action=upload, field `image`) or remove (action=remove) the image."""

    def refuse(error: Refused, status_code: int) -> HTMLResponse:
        with svc.db.session() as session:
            return _image_page(request, facilitator, session, question_id, error, status_code)

    sent = await read_image_form(request, facilitator, "image", MAX_IMAGE_BODY)
    if sent is None:
        return await blocking(lambda: refuse(image_too_large(), 413))
    if isinstance(sent, Response):
        return sent
    action, data = sent

    def change() -> int:
        with svc.db.write_session() as session:
            if action == "remove":
                question = svc_u.remove_image(
                    session=session, owner_id=facilitator.id, question_id=question_id
                )
            else:
                question = svc_u.set_image(
                    session=session, owner_id=facilitator.id, question_id=question_id, data=data
                )
            return question.presentation_id

    try:
        presentation_id = await blocking(change)
    except Refused as error:
        refused, status = error, 413 if len(data) > svc_u.MAX_IMAGE_BYTES else 422
        return await blocking(lambda: refuse(refused, status))
    svc.changed(presentation_id)
    return see_other(f"/manage/questions/{question_id}")


@router.get("/uploads/{upload_id}/{digest}")
def image(upload_id: str, digest: str, request: Request, session: SessionDep) -> Response:
    """An uploaded image, by its id and the digest of its bytes (404 for anything else)."""
    try:
        if not (upload_id.isascii() and upload_id.isdigit() and len(upload_id) <= 18):
            raise NotFound("upload")
        upload = svc_u.get_image(session=session, upload_id=int(upload_id), digest=digest)
    except NotFound:
        return Response("Not found", status_code=404, media_type="text/plain")
    headers = {
        "cache-control": IMAGE_CACHE,
        "etag": f'"{digest}"',
        "x-content-type-options": "nosniff",
        # Opened on its own, the image runs nothing and is embedded by our pages only.
        "content-security-policy": "default-src 'none'; sandbox",
        "cross-origin-resource-policy": "same-origin",
        "content-disposition": "inline",
    }
    if request.headers.get("if-none-match") == f'"{digest}"':
        return Response(status_code=304, headers=headers)
    return Response(upload.data, media_type=upload.content_type, headers=headers)
