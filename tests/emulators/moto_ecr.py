"""moto's server with the parts of ECR a pull needs, for ecr-engine's tests.

Usage: python moto_ecr.py

moto (pinned in tests/emulators/moto-requirements.txt) emulates STS and ECR on a free port of
127.0.0.1, bound here and printed as "moto on port N" once it accepts connections (binding port 0
leaves no moment for another process to take the port).
Three gaps are closed here by patching moto's own ECR classes before its server starts:

* CompleteLayerUpload: moto hashes the uploaded bytes and then throws them away; they are kept.
* GetDownloadUrlForLayer: not implemented by moto; it returns a "presigned" URL on a second
  loopback server of this process, valid for ECR_EMULATOR_URL_TTL seconds (default 3600), that
  serves the kept bytes (Range requests too). With ECR_EMULATOR_EXPIRE_FIRST=1 the first URL
  issued for each blob is already expired, so clients must ask for a new one. With
  ECR_EMULATOR_UNAVAILABLE_FIRST=N the first N blob downloads are answered 503, so clients must
  retry. A request to it that carries an Authorization header is refused, as a check that clients
  send no AWS credentials to presigned URLs.
* Image digests: moto derives them from the layer digests; ECR's digest is the sha256 of the
  manifest bytes, which clients verify. A manifest put by digest (PutImage with imageDigest, as
  an index's platform manifests are pushed) is stored under that digest unchecked by moto; like
  ECR, it is refused here unless it is the manifest's sha256.

The blob server's counters are at GET /stats (JSON): downloads per layer digest, URLs issued,
expired URLs refused and 503s sent.
"""

import hashlib
import json
import os
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.ecr import models as ecr_models
from moto.ecr.responses import ECRResponse
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

URL_TTL = float(os.environ.get("ECR_EMULATOR_URL_TTL", "3600"))
EXPIRE_FIRST = os.environ.get("ECR_EMULATOR_EXPIRE_FIRST") == "1"
UNAVAILABLE_FIRST = int(os.environ.get("ECR_EMULATOR_UNAVAILABLE_FIRST", "0"))

LOCK = threading.Lock()
# (account, region, repository, digest) -> bytes
BLOBS = {}
# token -> (key, expires at)
URLS = {}
STATS = {"downloads": {}, "urls_issued": 0, "expired_refused": 0, "unavailable_sent": 0}


class LayersNotFoundException(ServiceException):
    code = "LayersNotFoundException"


class ImageDigestDoesNotMatchException(ServiceException):
    code = "ImageDigestDoesNotMatchException"


original_complete = ecr_models.ECRBackend.complete_layer_upload


def complete_layer_upload(self, repository_name, upload_id, layer_digests, registry_id=None):
    repository = self._get_repository(repository_name, registry_id)
    upload = repository.uploads.get(upload_id)
    data = bytes(upload.layer_parts) if upload is not None else None
    result = original_complete(self, repository_name, upload_id, layer_digests, registry_id=registry_id)
    with LOCK:
        BLOBS[(self.account_id, self.region_name, repository_name, result["layerDigest"])] = data
    return result


def manifest_digest(manifest):
    return "sha256:" + hashlib.sha256(manifest.encode("utf-8")).hexdigest()


def create_digest(self):
    self._image_digest = manifest_digest(self.image_manifest)


original_put_image = ecr_models.ECRBackend.put_image


def put_image(self, repository_name, image_manifest, image_tag, image_manifest_mediatype=None, digest=None):
    actual = manifest_digest(image_manifest)
    if digest is not None and digest != actual:
        raise ImageDigestDoesNotMatchException(
            f"The image digest '{digest}' does not match the manifest's digest '{actual}'"
        )
    return original_put_image(self, repository_name, image_manifest, image_tag, image_manifest_mediatype, digest)


def get_download_url_for_layer(self):
    repository_name = self._get_param("repositoryName")
    digest = self._get_param("layerDigest")
    backend = self.ecr_backend
    backend._get_repository(repository_name, self._get_param("registryId"))
    key = (backend.account_id, backend.region_name, repository_name, digest)
    with LOCK:
        if key not in BLOBS:
            raise LayersNotFoundException(
                f"The image layer '{digest}' does not exist in the repository '{repository_name}'"
            )
        token = secrets.token_urlsafe(18)
        first = not any(k == key for k, _ in URLS.values())
        URLS[token] = (key, 0 if EXPIRE_FIRST and first else time.time() + URL_TTL)
        STATS["urls_issued"] += 1
    url = f"http://127.0.0.1:{BLOB_SERVER.server_address[1]}/blob/{token}"
    return ActionResult({"downloadUrl": url, "layerDigest": digest})


class BlobHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, content_type="text/plain", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/stats":
            with LOCK:
                body = json.dumps(STATS).encode()
            return self.reply(200, body, "application/json")
        if not self.path.startswith("/blob/"):
            return self.reply(404, b"not found")
        if "Authorization" in self.headers:
            return self.reply(400, b"presigned URLs take no Authorization header")
        token = self.path[len("/blob/"):]
        with LOCK:
            entry = URLS.get(token)
            if entry is None:
                return self.reply(404, b"unknown URL")
            key, expires = entry
            if STATS["unavailable_sent"] < UNAVAILABLE_FIRST:
                STATS["unavailable_sent"] += 1
                return self.reply(503, b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
                                  "application/xml")
            if time.time() > expires:
                STATS["expired_refused"] += 1
                return self.reply(403, b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
                                  "application/xml")
            data = BLOBS[key]
            digest = key[3]
            STATS["downloads"][digest] = STATS["downloads"].get(digest, 0) + 1
        start = 0
        requested = self.headers.get("Range")
        if requested and requested.startswith("bytes=") and requested.endswith("-"):
            start = int(requested[len("bytes="):-1])
            if start >= len(data):
                return self.reply(416, b"", headers=[("Content-Range", f"bytes */{len(data)}")])
            return self.reply(206, data[start:], "application/octet-stream",
                              [("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")])
        return self.reply(200, data, "application/octet-stream")


ecr_models.ECRBackend.complete_layer_upload = complete_layer_upload
ecr_models.Image._create_digest = create_digest
ecr_models.ECRBackend.put_image = put_image
ECRResponse.get_download_url_for_layer = get_download_url_for_layer

BLOB_SERVER = ThreadingHTTPServer(("127.0.0.1", 0), BlobHandler)
threading.Thread(target=BLOB_SERVER.serve_forever, daemon=True).start()
print(f"blob server on port {BLOB_SERVER.server_address[1]}", flush=True)

if __name__ == "__main__":
    # What moto.server.main does, on a socket bound to port 0 (main takes a fixed port).
    server = make_server("127.0.0.1", 0, DomainDispatcherApplication(create_backend_app), threaded=True,
                         request_handler=MotoRequestHandler)
    port = server.server_address[1]
    os.environ["MOTO_PORT"] = str(port)
    print(f"moto on port {port}", flush=True)
    server.serve_forever()
