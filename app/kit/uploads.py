"""Routes that take a whole file: a larger body, streamed to the route instead of read at the door.

Every other request body is read in full by the request-context middleware, bounded by
``max_body_bytes`` (1 MiB), and checked by the NUL guard before routing. A file upload (the
contact import) may be bigger — phones export photos inside their vCards — so for its path the
door only checks the declared ``Content-Length`` against the upload's own limit, and the bytes
are counted as the route reads them: past the limit, reading raises :class:`PayloadTooLarge`,
answered as the usual 413 problem. The route spools the file to disk past a small size, decodes
it and checks it for NUL characters itself, so memory stays bounded whatever the file's size.

The uploads an app takes are listed in ``app.state.file_uploads`` ({path: :class:`FileUpload`}),
an exact lookup by path: the door does no routing work for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import Message, Receive, Scope

from app.kit.errors import PayloadTooLarge


@dataclass(frozen=True)
class FileUpload:
    """How big a file one path takes, and what to do with a bigger one."""

    max_bytes: int
    advice: str

    def too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"Files are limited to {self.max_bytes} bytes here. {self.advice}",
            max_bytes=self.max_bytes,
        )


def file_upload(scope: Scope) -> FileUpload | None:
    """The upload taken at this request's path, if it is one.

    Whatever the method: another method on the path is answered 405 by routing, and a file
    sent with it (binary, NULs and all) is bounded the same way and never read, rather than
    refused at the door for what it holds.
    """
    app = scope.get("app")
    uploads = getattr(getattr(app, "state", None), "file_uploads", None)
    return uploads.get(scope.get("path")) if uploads else None


def counted(receive: Receive, upload: FileUpload) -> Receive:
    """``receive``, raising the upload's 413 once more than its limit has come in."""
    size = 0

    async def receive_counted() -> Message:
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > upload.max_bytes:
                raise upload.too_large()
        return message

    return receive_counted


__all__ = ["FileUpload", "counted", "file_upload"]
