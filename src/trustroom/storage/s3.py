"""The S3 blob store (any S3-compatible object storage), for API and worker processes on
several machines.

Writes are multipart uploads: parts of `PART_BYTES` go up as they fill, and the object
appears under its name only when the upload completes, so a writer that fails or is
killed leaves no object (an incomplete upload, which the bucket's lifecycle rule
`AbortIncompleteMultipartUpload` or the orphan sweep clears). Reads stream the object's
body. Memory per transfer stays at one part.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any, BinaryIO, cast

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from ..settings import StorageSettings

PART_BYTES = 8 * 1024 * 1024  # S3 wants at least 5 MiB per part but the last
NOT_FOUND = {"NoSuchKey", "404", "NotFound"}


class _PartWriter(io.RawIOBase):
    """A write-only file that sends each full part as it fills."""

    def __init__(self, client: Any, bucket: str, key: str, upload_id: str) -> None:
        self._client, self._bucket, self._key, self._upload_id = client, bucket, key, upload_id
        self._buffer = bytearray()
        self.parts: list[dict[str, Any]] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._buffer += data
        while len(self._buffer) >= PART_BYTES:
            self._send(bytes(self._buffer[:PART_BYTES]))
            del self._buffer[:PART_BYTES]
        return len(data)

    def finish(self) -> None:
        if self._buffer or not self.parts:
            self._send(bytes(self._buffer))
            self._buffer.clear()

    def _send(self, part: bytes) -> None:
        number = len(self.parts) + 1
        answer = self._client.upload_part(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=part
        )
        self.parts.append({"PartNumber": number, "ETag": answer["ETag"]})


class _BodyReader(io.RawIOBase):
    """An object's streaming body as a readable file."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._body.close()
        super().close()


class S3BlobStore:
    def __init__(self, settings: StorageSettings) -> None:
        assert settings.s3_bucket, "the S3 store needs a bucket"
        self.bucket = settings.s3_bucket
        self.prefix = settings.s3_prefix
        secret = settings.s3_secret_access_key.get_secret_value() if settings.s3_secret_access_key else None
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key_id,
            aws_secret_access_key=secret,
            config=Config(retries={"max_attempts": 5, "mode": "standard"}, max_pool_connections=32),
        )

    def _key(self, name: str) -> str:
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"not a blob name: {name!r}")
        return f"{self.prefix}{name}"

    @contextlib.contextmanager
    def create(self, name: str) -> Iterator[BinaryIO]:
        key = self._key(name)
        upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]
        writer = _PartWriter(self.client, self.bucket, key, upload_id)
        try:
            yield cast(BinaryIO, writer)
            writer.finish()
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": writer.parts}
            )
        except BaseException:
            with contextlib.suppress(ClientError):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise

    def open(self, name: str) -> BinaryIO:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(name))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in NOT_FOUND:
                raise FileNotFoundError(name) from error
            raise
        return cast(BinaryIO, io.BufferedReader(_BodyReader(answer["Body"]), buffer_size=256 * 1024))

    def delete(self, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(name))

    def sweep_partial(self, before: datetime) -> int:
        """Abort multipart uploads begun before `before` and never completed."""
        aborted = 0
        pages = self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=self.prefix)
        for page in pages:
            for upload in page.get("Uploads", []):
                if upload["Initiated"] < before:
                    with contextlib.suppress(ClientError):
                        self.client.abort_multipart_upload(
                            Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                        )
                        aborted += 1
        return aborted

    def stored(self) -> Iterator[tuple[str, datetime]]:
        """Every blob name in the bucket (under the prefix), with when it was written."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
        for page in pages:
            for item in page.get("Contents", []):
                yield item["Key"][len(self.prefix) :], item["LastModified"]
