"""A local Hugging Face Hub: the HTTP endpoints huggingface_hub 2.x calls, nothing more.

    with FakeHub(token="hf_...") as hub:       # 127.0.0.1, a free port
        HfApi(endpoint=hub.url, token=...)      # create_repo, create_commit, create_tag, ...
        snapshot_download(..., endpoint=hub.url)

Implemented (paths as the client builds them; `{t}` is model/dataset/space, `{p}` the URL
prefix "" / "datasets/" / "spaces/"):

    POST   /api/repos/create                       {name, organization, type, visibility}
    POST   /api/validate-yaml                      {content, repoType}
    GET    /api/agent-harnesses                    (the client's agent registry: empty)
    POST   /api/{t}s/{ns}/{name}/preupload/{rev}   -> uploadMode regular|lfs, oid of the head
    POST   /{p}{ns}/{name}.git/info/lfs/objects/batch   LFS batch API (basic transfer)
    PUT    /__lfs/{t}/{ns}/{name}/{sha256}         the `href` handed out by the batch API
    POST   /api/{t}s/{ns}/{name}/commit/{rev}      NDJSON: header, file, lfsFile, deleted*
    GET    /api/{t}s/{ns}/{name}/refs
    POST   /api/{t}s/{ns}/{name}/tag/{rev}         {tag, message}
    DELETE /api/{t}s/{ns}/{name}/tag/{tag}
    GET    /api/{t}s/{ns}/{name}[/revision/{rev}]  repo info (id, sha, private, siblings)
    GET    /api/{t}s/{ns}/{name}/tree/{rev}[/{path}]   ?recursive=
    HEAD   /{p}{ns}/{name}/resolve/{rev}/{path}    X-Repo-Commit, ETag (X-Linked-* for LFS)
    GET    /{p}{ns}/{name}/resolve/{rev}/{path}    the bytes (Range supported)

Xet is not implemented: clients must run with HF_HUB_DISABLE_XET=1 (then they use the LFS
batch API and plain PUTs). Writes need `Authorization: Bearer <token>`; errors carry the
Hub's `X-Error-Code` header (RepoNotFound, RevisionNotFound, EntryNotFound).

For tests: `hub.requests` (method, path, status) of every request; `hub.fail(...)` makes
matching requests fail; `hub.files(repo_id, type, rev)` is a repo's content at a revision;
`hub.commits(repo_id, type)` its history (oldest first).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

GITATTRIBUTES = (
    b"*.bin filter=lfs diff=lfs merge=lfs -text\n"
    b"*.parquet filter=lfs diff=lfs merge=lfs -text\n"
    b"*.png filter=lfs diff=lfs merge=lfs -text\n"
    b"*.pt filter=lfs diff=lfs merge=lfs -text\n"
    b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
    b"*.zst filter=lfs diff=lfs merge=lfs -text\n"
)
LFS_SUFFIXES = (".bin", ".parquet", ".png", ".pt", ".safetensors", ".zst", ".arrow", ".gguf")
LFS_MIN_SIZE = 10 * 1024 * 1024
PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n"
    ).encode()


@dataclass
class Blob:
    data: bytes
    lfs: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def tree_entry(self, path: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"type": "file", "path": path, "size": len(self.data)}
        if self.lfs:
            pointer = lfs_pointer(self.sha256, len(self.data))
            entry["oid"] = git_sha1(pointer)
            entry["lfs"] = {"oid": self.sha256, "size": len(self.data), "pointerSize": len(pointer)}
        else:
            entry["oid"] = git_sha1(self.data)
        return entry


@dataclass
class Commit:
    oid: str
    parent: str | None
    message: str
    files: dict[str, Blob]


@dataclass
class Repo:
    repo_id: str
    repo_type: str
    private: bool
    commits: dict[str, Commit] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    lfs: dict[str, bytes] = field(default_factory=dict)  # uploaded LFS objects by sha256

    def resolve(self, rev: str) -> Commit | None:
        oid = self.branches.get(rev) or self.tags.get(rev)
        if oid is None and re.fullmatch(r"[0-9a-f]{40}", rev):
            oid = rev if rev in self.commits else None
        return self.commits.get(oid) if oid else None

    def add_commit(self, parent: str | None, message: str, files: dict[str, Blob]) -> Commit:
        digest = hashlib.sha1()
        digest.update(f"{parent}\n{message}\n{len(self.order)}\n".encode())
        for path in sorted(files):
            digest.update(f"{path} {files[path].sha256}\n".encode())
        commit = Commit(digest.hexdigest(), parent, message, files)
        self.commits[commit.oid] = commit
        self.order.append(commit.oid)
        return commit


@dataclass
class FailRule:
    method: str
    pattern: re.Pattern[str]
    status: int
    skip: int  # matching requests let through before failing
    times: int | None  # failures left (None: forever)


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


class FakeHub:
    """A threaded HTTP server on 127.0.0.1 holding repos in memory."""

    def __init__(self, token: str | None = None, host: str = "127.0.0.1", port: int = 0):
        self.token = token
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[tuple[str, str, int]] = []
        self.rules: list[FailRule] = []
        self.lock = threading.RLock()
        self.server = ThreadingHTTPServer((host, port), _handler_for(self))
        self.server.daemon_threads = True
        self.thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeHub:
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- test helpers ----------------------------------------------------------------------

    def fail(
        self,
        method: str,
        path_regex: str,
        status: int = 507,
        skip: int = 0,
        times: int | None = 1,
    ) -> None:
        """Answer requests matching (method, path regex) with ``status`` (after ``skip``)."""
        with self.lock:
            self.rules.append(FailRule(method.upper(), re.compile(path_regex), status, skip, times))

    def repo(self, repo_id: str, repo_type: str = "model") -> Repo:
        return self.repos[(repo_type, repo_id)]

    def files(self, repo_id: str, repo_type: str = "model", rev: str = "main") -> dict[str, bytes]:
        commit = self.repo(repo_id, repo_type).resolve(rev)
        assert commit is not None, f"no revision {rev}"
        return {path: blob.data for path, blob in commit.files.items()}

    def commits(self, repo_id: str, repo_type: str = "model") -> list[Commit]:
        repo = self.repo(repo_id, repo_type)
        return [repo.commits[oid] for oid in repo.order]

    def _check_failure(self, method: str, path: str) -> int | None:
        with self.lock:
            for rule in self.rules:
                if rule.method != method or not rule.pattern.search(path):
                    continue
                if rule.skip > 0:
                    rule.skip -= 1
                    return None
                if rule.times is None:
                    return rule.status
                if rule.times > 0:
                    rule.times -= 1
                    return rule.status
        return None

    # --- request handling ------------------------------------------------------------------

    def authorized(self, headers: Any) -> bool:
        value = headers.get("authorization") or ""
        return self.token is not None and value == f"Bearer {self.token}"

    def handle(self, req: _Request) -> tuple[int, dict[str, str], bytes]:
        path = req.path
        if path == "/api/repos/create" and req.method == "POST":
            return self._create_repo(req)
        if path == "/api/validate-yaml" and req.method == "POST":
            return self._validate_yaml(req)
        if path == "/api/agent-harnesses" and req.method == "GET":  # client telemetry registry
            return _json(200, {"standardEnvVars": [], "harnesses": {}})
        match = re.fullmatch(r"/api/(model|dataset|space)s/([^/]+/[^/]+)(/.*)?", path)
        if match:
            return self._api(req, match.group(1), match.group(2), match.group(3) or "")
        match = re.fullmatch(r"/__lfs/(model|dataset|space)/([^/]+/[^/]+)/([0-9a-f]{64})", path)
        if match and req.method == "PUT":
            return self._lfs_put(req, match.group(1), match.group(2), match.group(3))
        match = re.fullmatch(
            r"/(datasets/|spaces/)?([^/]+/[^/]+)\.git/info/lfs/objects/batch", path
        )
        if match and req.method == "POST":
            return self._lfs_batch(req, _type_of(match.group(1)), match.group(2))
        match = re.fullmatch(r"/(datasets/|spaces/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if match and req.method in ("GET", "HEAD"):
            return self._resolve(req, _type_of(match.group(1)), match.group(2), match)
        raise HubError(404, f"no route for {req.method} {path}")

    def _get_repo(self, req: _Request, repo_type: str, repo_id: str, write: bool) -> Repo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None or (repo.private and not self.authorized(req.headers)):
            raise HubError(404, f"Repository not found: {repo_type} {repo_id}", "RepoNotFound")
        if write and not self.authorized(req.headers):
            raise HubError(401, "Invalid credentials in Authorization header")
        return repo

    def _commit_at(self, repo: Repo, rev: str) -> Commit:
        commit = repo.resolve(rev)
        if commit is None:
            raise HubError(404, f"Revision Not Found for url: {rev}", "RevisionNotFound")
        return commit

    def _create_repo(self, req: _Request) -> tuple[int, dict[str, str], bytes]:
        if not self.authorized(req.headers):
            raise HubError(401, "Invalid credentials in Authorization header")
        body = req.json()
        repo_type = body.get("type") or "model"
        name, org = body.get("name"), body.get("organization")
        if not name or not org:
            raise HubError(400, "name and organization are required")
        repo_id = f"{org}/{name}"
        url = f"{self.url}/{PREFIX.get(repo_type, '')}{repo_id}"
        with self.lock:
            if (repo_type, repo_id) in self.repos:
                return _json(409, {"error": "You already created this repo", "url": url})
            private = body.get("visibility") == "private" or bool(body.get("private"))
            repo = Repo(repo_id, repo_type, private)
            first = repo.add_commit(
                None, "initial commit", {".gitattributes": Blob(GITATTRIBUTES, False)}
            )
            repo.branches["main"] = first.oid
            self.repos[(repo_type, repo_id)] = repo
        return _json(200, {"url": url, "name": repo_id, "id": repo_id})

    def _validate_yaml(self, req: _Request) -> tuple[int, dict[str, str], bytes]:
        body = req.json()
        content = body.get("content") or ""
        errors = []
        match = re.match(r"^---\r?\n(.*?)\r?\n---\r?\n", content, re.S)
        if match:
            try:
                meta = yaml.safe_load(match.group(1))
                if meta is not None and not isinstance(meta, dict):
                    errors.append("metadata must be a mapping")
                elif meta:
                    errors += _metadata_errors(meta, body.get("repoType") or "model")
            except yaml.YAMLError as err:
                errors.append(f"invalid YAML: {err}")
        if errors:
            return _json(400, {"errors": [{"message": e} for e in errors], "warnings": []})
        return _json(200, {"errors": [], "warnings": []})

    def _api(self, req: _Request, repo_type: str, repo_id: str, rest: str):
        method = req.method
        if rest.startswith("/preupload/") and method == "POST":
            repo = self._get_repo(req, repo_type, repo_id, write=True)
            commit = self._commit_at(repo, unquote(rest[len("/preupload/") :]))
            files = []
            for item in req.json().get("files", []):
                sample = base64.b64decode(item.get("sample") or "")
                mode = _upload_mode(item["path"], int(item.get("size") or 0), sample)
                existing = commit.files.get(item["path"])
                oid = None
                if existing is not None:
                    oid = existing.sha256 if existing.lfs else git_sha1(existing.data)
                files.append(
                    {"path": item["path"], "uploadMode": mode, "shouldIgnore": False, "oid": oid}
                )
            return _json(200, {"files": files, "commitOid": commit.oid})
        if rest.startswith("/commit/") and method == "POST":
            return self._commit(req, self._get_repo(req, repo_type, repo_id, True), rest[8:])
        if rest == "/refs" and method == "GET":
            repo = self._get_repo(req, repo_type, repo_id, write=False)
            refs = {
                "branches": [
                    {"name": n, "ref": f"refs/heads/{n}", "targetCommit": o}
                    for n, o in sorted(repo.branches.items())
                ],
                "converts": [],
                "tags": [
                    {"name": n, "ref": f"refs/tags/{n}", "targetCommit": o}
                    for n, o in sorted(repo.tags.items())
                ],
            }
            if "include_prs" in req.query:
                refs["pullRequests"] = []
            return _json(200, refs)
        if rest.startswith("/tag/") and method == "POST":
            repo = self._get_repo(req, repo_type, repo_id, write=True)
            commit = self._commit_at(repo, unquote(rest[5:]))
            tag = req.json().get("tag")
            if not tag:
                raise HubError(400, "tag is required")
            with self.lock:
                if tag in repo.tags or tag in repo.branches:
                    raise HubError(409, f"Tag {tag} already exists")
                repo.tags[tag] = commit.oid
            return _json(200, {})
        if rest.startswith("/tag/") and method == "DELETE":
            repo = self._get_repo(req, repo_type, repo_id, write=True)
            with self.lock:
                if repo.tags.pop(unquote(rest[5:]), None) is None:
                    raise HubError(404, "Tag not found", "RevisionNotFound")
            return _json(200, {})
        if method == "GET" and (rest == "" or rest.startswith("/revision/")):
            repo = self._get_repo(req, repo_type, repo_id, write=False)
            commit = self._commit_at(repo, unquote(rest[len("/revision/") :]) if rest else "main")
            info = {
                "id": repo_id,
                "_id": hashlib.md5(repo_id.encode()).hexdigest()[:24],
                "author": repo_id.split("/")[0],
                "sha": commit.oid,
                "private": repo.private,
                "disabled": False,
                "gated": False,
                "downloads": 0,
                "likes": 0,
                "tags": [],
                "siblings": [{"rfilename": p} for p in sorted(commit.files)],
            }
            if repo_type == "model":
                info["modelId"] = repo_id
            return _json(200, info)
        if rest.startswith("/tree/") and method == "GET":
            repo = self._get_repo(req, repo_type, repo_id, write=False)
            rev, _, sub = rest[len("/tree/") :].partition("/")
            commit = self._commit_at(repo, unquote(rev))
            recursive = req.query.get("recursive", ["False"])[0].lower() in ("true", "1")
            return _json(200, _tree(commit, unquote(sub).strip("/"), recursive))
        raise HubError(404, f"no route for {method} /api/{repo_type}s/{repo_id}{rest}")

    def _commit(self, req: _Request, repo: Repo, rev: str):
        rev = unquote(rev)
        lines = [json.loads(line) for line in req.body.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "the first NDJSON line must be the header")
        header = lines[0]["value"]
        with self.lock:
            head = self._commit_at(repo, rev)
            parent = header.get("parentCommit")
            if parent and not head.oid.startswith(parent):
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            files = dict(head.files)
            for line in lines[1:]:
                key, value = line.get("key"), line.get("value") or {}
                path = value.get("path", "")
                if key == "file":
                    if value.get("encoding") != "base64":
                        raise HubError(400, "file content must be base64")
                    data = base64.b64decode(value["content"])
                    files[path] = Blob(data, False)
                elif key == "lfsFile":
                    oid = value.get("oid")
                    if oid not in repo.lfs:
                        raise HubError(422, f"LFS object {oid} not uploaded for {path}")
                    files[path] = Blob(repo.lfs[oid], True)
                elif key == "deletedFile":
                    if files.pop(path, None) is None:
                        raise HubError(404, f"{path} does not exist", "EntryNotFound")
                elif key == "deletedFolder":
                    prefix = path.rstrip("/") + "/"
                    for name in [n for n in files if n.startswith(prefix)]:
                        del files[name]
                else:
                    raise HubError(400, f"unknown NDJSON key {key!r}")
            commit = repo.add_commit(head.oid, header.get("summary") or "", files)
            if rev in repo.branches or rev == "main":
                repo.branches[rev] = commit.oid
        prefix = PREFIX.get(repo.repo_type, "")
        return _json(
            200,
            {
                "success": True,
                "commitOid": commit.oid,
                "commitUrl": f"{self.url}/{prefix}{repo.repo_id}/commit/{commit.oid}",
                "pullRequestUrl": None,
            },
        )

    def _lfs_batch(self, req: _Request, repo_type: str, repo_id: str):
        repo = self._get_repo(req, repo_type, repo_id, write=True)
        body = req.json()
        if body.get("operation") != "upload":
            raise HubError(400, "only uploads are supported")
        objects = []
        for obj in body.get("objects", []):
            oid, size = obj["oid"], int(obj["size"])
            entry: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            if oid not in repo.lfs:
                href = f"{self.url}/__lfs/{repo_type}/{repo_id}/{oid}"
                entry["actions"] = {"upload": {"href": href, "expires_in": 3600}}
            objects.append(entry)
        payload = json.dumps({"transfer": "basic", "objects": objects, "hash_algo": "sha256"})
        return 200, {"Content-Type": "application/vnd.git-lfs+json"}, payload.encode()

    def _lfs_put(self, req: _Request, repo_type: str, repo_id: str, oid: str):
        # The href is a pre-signed URL (on the Hub: object storage): no Authorization header.
        repo = self.repos.get((repo_type, repo_id))
        if repo is None:
            raise HubError(404, "no such upload")
        if hashlib.sha256(req.body).hexdigest() != oid:
            raise HubError(400, "sha256 of the uploaded content does not match the oid")
        with self.lock:
            repo.lfs[oid] = req.body
        return 200, {}, b""

    def _resolve(self, req: _Request, repo_type: str, repo_id: str, match: re.Match[str]):
        repo = self._get_repo(req, repo_type, repo_id, write=False)
        commit = self._commit_at(repo, unquote(match.group(3)))
        path = unquote(match.group(4))
        blob = commit.files.get(path)
        if blob is None:
            raise _EntryNotFound(commit.oid, path)
        headers = {"X-Repo-Commit": commit.oid, "Accept-Ranges": "bytes"}
        if blob.lfs:
            headers["ETag"] = f'"{blob.sha256}"'
            headers["X-Linked-Etag"] = f'"{blob.sha256}"'
            headers["X-Linked-Size"] = str(len(blob.data))
        else:
            headers["ETag"] = f'"{git_sha1(blob.data)}"'
        data = blob.data
        status = 200
        ranged = re.fullmatch(r"bytes=(\d+)-(\d*)", req.headers.get("range") or "")
        if ranged and req.method == "GET":
            start = int(ranged.group(1))
            end = int(ranged.group(2)) if ranged.group(2) else len(data) - 1
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            data, status = data[start : end + 1], 206
        headers["Content-Type"] = "application/octet-stream"
        return status, headers, data


class _EntryNotFound(HubError):
    def __init__(self, commit: str, path: str):
        super().__init__(404, f"Entry not found: {path}", "EntryNotFound")
        self.commit = commit


def _type_of(prefix: str | None) -> str:
    return {"datasets/": "dataset", "spaces/": "space"}.get(prefix or "", "model")


def _upload_mode(path: str, size: int, sample: bytes) -> str:
    if size == 0:
        return "regular"
    if path.endswith(LFS_SUFFIXES) or size >= LFS_MIN_SIZE or b"\0" in sample:
        return "lfs"
    return "regular"


def _tree(commit: Commit, sub: str, recursive: bool) -> list[dict[str, Any]]:
    prefix = f"{sub}/" if sub else ""
    entries: dict[str, dict[str, Any]] = {}
    for path, blob in sorted(commit.files.items()):
        if not path.startswith(prefix):
            continue
        rest = path[len(prefix) :]
        parts = rest.split("/")
        for depth in range(1, len(parts)):
            folder = prefix + "/".join(parts[:depth])
            if recursive or depth == 1:
                entries.setdefault(
                    folder,
                    {
                        "type": "directory",
                        "path": folder,
                        "size": 0,
                        "oid": hashlib.sha1(folder.encode()).hexdigest(),
                    },
                )
        if recursive or len(parts) == 1:
            entries[path] = blob.tree_entry(path)
    return [entries[key] for key in sorted(entries)]


def _metadata_errors(meta: dict[str, Any], repo_type: str) -> list[str]:
    """A few of the Hub's metadata rules (enough to catch a malformed card)."""
    errors = []
    if repo_type == "model" and "model-index" in meta:
        for index in meta["model-index"] or []:
            for result in index.get("results") or []:
                task, dataset = result.get("task") or {}, result.get("dataset") or {}
                if not task.get("type"):
                    errors.append("model-index: a result has no task.type")
                if not dataset.get("name") or not dataset.get("type"):
                    errors.append("model-index: a result's dataset needs name and type")
                for metric in result.get("metrics") or []:
                    if not metric.get("type") or "value" not in metric:
                        errors.append("model-index: a metric needs type and value")
    if repo_type == "dataset":
        for config in meta.get("configs") or []:
            if not config.get("config_name"):
                errors.append("configs: an entry has no config_name")
            for files in config.get("data_files") or []:
                if not isinstance(files, dict) or not files.get("split") or not files.get("path"):
                    errors.append("configs: data_files entries need split and path")
    return errors


def _json(status: int, payload: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Any
    body: bytes

    def json(self) -> dict[str, Any]:
        try:
            value = json.loads(self.body or b"{}")
        except json.JSONDecodeError:
            raise HubError(400, "body is not JSON") from None
        return value if isinstance(value, dict) else {}


def _handler_for(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _body(self) -> bytes:
            if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                return b"".join(chunks)
            length = int(self.headers.get("content-length") or 0)
            return self.rfile.read(length) if length else b""

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            body = self._body() if self.command in ("POST", "PUT", "DELETE") else b""
            request = _Request(self.command, parts.path, parse_qs(parts.query), self.headers, body)
            failed = hub._check_failure(self.command, parts.path)
            try:
                if failed is not None:
                    raise HubError(failed, f"injected failure {failed}")
                status, headers, payload = hub.handle(request)
            except HubError as err:
                status = err.status
                headers = {"Content-Type": "application/json", "X-Error-Message": err.message}
                if err.code:
                    headers["X-Error-Code"] = err.code
                if isinstance(err, _EntryNotFound):
                    headers["X-Repo-Commit"] = err.commit
                payload = json.dumps({"error": err.message}).encode()
            except Exception as err:  # noqa: BLE001 (a bug in the fake: answer 500, keep going)
                status, headers = 500, {"Content-Type": "application/json"}
                payload = json.dumps({"error": f"fake hub error: {err!r}"}).encode()
            with hub.lock:
                hub.requests.append((self.command, parts.path, status))
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

    return Handler
