"""Why a document cannot be ingested, as InferraErrors the API renders in the one error shape.
Every message starts with the file's name: a multi-file upload or a CLI run reports many."""

from __future__ import annotations

from core.errors import InferraError


class UnsupportedDocument(InferraError):
    """Not one of the accepted types, or content that contradicts the file's extension."""

    status_code = 415
    code = "unsupported_media_type"


class CorruptDocument(InferraError):
    """Claims a supported type but cannot be read (damaged or password-protected)."""

    status_code = 422
    code = "corrupt_document"


class EmptyDocument(CorruptDocument):
    """Readable, but without any text to index (e.g. a scanned PDF: no OCR here)."""

    code = "empty_document"


class DocumentTooComplex(CorruptDocument):
    """Past a parsing bound: a zip bomb, HTML nested or sized beyond reason, too many PDF pages,
    too much text, or a parser that ran out of its time or memory and was stopped."""

    code = "document_too_complex"


class DocumentTooLarge(InferraError):
    status_code = 413
    code = "payload_too_large"


class EmbeddingsUnavailable(InferraError):
    """The embedding provider did not answer; nothing was stored, the upload can be retried."""

    status_code = 503
    code = "embeddings_unavailable"
