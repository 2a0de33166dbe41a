"""The cache: stage outputs kept under their stage key, in a local directory or an S3 bucket.

`open_store(url, trust=..., root=...)` returns a `CacheStore`; the trust level is part of the
store's address (see `ci_ml.cache.layout` for the layout and what each level reads and writes).

How the executor uses a store:

    hit = store.get_manifest(key)                 # trusted area first
    if hit: restore(hit, store, root, stage.out_paths)   # ci_ml.cache.outputs
    else:   run the stage, then push:
        outputs, files = snapshot(root, cached_out_paths)
        manifest = Manifest(key=key, stage=..., outputs=tuple(outputs), ...)
        plan = plan_upload(store, manifest, files)  # what the store lacks; small files in packs
        upload(store, manifest, files, plan)        # objects, then the manifest LAST

Objects are written first and the manifest last, so a manifest never names a missing object
(except after gc or tampering). `restore` raises CorruptObjectError (a CacheError) when an object
is missing or corrupt: run the stage again and push it even though its manifest exists, since the
corrupt object has been deleted (where this store may write) and the push puts it back.
A digest in `get_objects` is read from the area the manifest came from (`CacheHit.area`).
"""

from __future__ import annotations

from ci_ml.cache.access import open_cache
from ci_ml.cache.layout import Area, CacheHit, Trust
from ci_ml.cache.manifest import FileEntry, LinkEntry, Manifest, OutputEntry, RunFacts
from ci_ml.cache.outputs import restore, snapshot
from ci_ml.cache.packs import get_entries, plan_upload, upload
from ci_ml.cache.pending import drop_pending, pending_manifests, save_pending
from ci_ml.cache.progress import Progress, progress_mode
from ci_ml.cache.s3_client import ClientOptions, make_client
from ci_ml.cache.signing import generate_key_pair
from ci_ml.cache.store import CacheStore, open_store, start_s3_client

__all__ = [
    "Area",
    "CacheHit",
    "CacheStore",
    "ClientOptions",
    "FileEntry",
    "LinkEntry",
    "Manifest",
    "OutputEntry",
    "Progress",
    "RunFacts",
    "Trust",
    "drop_pending",
    "generate_key_pair",
    "get_entries",
    "make_client",
    "open_cache",
    "open_store",
    "pending_manifests",
    "plan_upload",
    "progress_mode",
    "restore",
    "save_pending",
    "snapshot",
    "start_s3_client",
    "upload",
]
