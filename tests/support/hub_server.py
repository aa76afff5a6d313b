"""A tiny in-memory Hub-compatible HTTP server for tests: only what `HfApi.create_repo` / `upload_folder`
(preupload + ndjson commit, regular files only) and `hf_hub_download` (resolve) use in huggingface_hub 2.4.

Requests it does not know are answered 404 and recorded in `unknown_requests`, so a test can show them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit


@dataclass
class Repo:
    files: dict[str, bytes] = field(default_factory=dict)
    commits: list[str] = field(default_factory=list)
    private: bool = False

    @property
    def sha(self) -> str:
        return self.commits[-1] if self.commits else "0" * 40


class HubState:
    def __init__(self, token: str) -> None:
        self.token = token
        self.repos: dict[str, Repo] = {}
        self.unknown_requests: list[str] = []
        self.lock = threading.Lock()


def _handler(state: HubState):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep pytest output clean
            pass

        # ------------------------------------------------------------------ helpers
        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _send(
            self, status: int, payload: object | bytes = b"", headers: dict[str, str] | None = None, head: bool = False
        ) -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            content_type = "application/octet-stream" if isinstance(payload, bytes) else "application/json"
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if not head:
                self.wfile.write(data)

        def _authorised(self) -> bool:
            if self.headers.get("authorization") != f"Bearer {state.token}":
                self._send(401, {"error": "Invalid credentials"})
                return False
            return True

        def _unknown(self) -> None:
            state.unknown_requests.append(f"{self.command} {self.path}")
            self._send(404, {"error": "not implemented by the test hub"}, {"X-Error-Code": "RepoNotFound"})

        # ------------------------------------------------------------------ routes
        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            body = self._body()
            if path == "/api/repos/create":
                if not self._authorised():
                    return
                req = json.loads(body)
                repo_id = f"{req['organization']}/{req['name']}" if req.get("organization") else req["name"]
                with state.lock:
                    if repo_id in state.repos:
                        self._send(409, {"error": "You already created this model repo", "url": repo_id})
                        return
                    state.repos[repo_id] = Repo(private=req.get("visibility") == "private")
                self._send(200, {"url": f"http://{self.headers['Host']}/{repo_id}", "name": repo_id})
                return
            if path == "/api/validate-yaml":
                self._send(200, {"errors": [], "warnings": []})
                return
            parts = path.split("/")
            # /api/models/{org}/{name}/(preupload|commit)/{revision}
            if len(parts) == 7 and parts[1:3] == ["api", "models"] and parts[5] in ("preupload", "commit"):
                if not self._authorised():
                    return
                repo_id = f"{parts[3]}/{parts[4]}"
                repo = state.repos.get(repo_id)
                if repo is None:
                    self._send(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
                    return
                if parts[5] == "preupload":
                    files = json.loads(body)["files"]
                    self._send(
                        200,
                        {
                            "files": [
                                {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None}
                                for f in files
                            ]
                        },
                    )
                    return
                added: dict[str, bytes] = {}
                deleted: list[str] = []
                for line in body.splitlines():
                    item = json.loads(line)
                    if item["key"] == "file":
                        value = item["value"]
                        added[value["path"]] = base64.b64decode(value["content"])
                    elif item["key"] == "deletedFile":
                        deleted.append(item["value"]["path"])
                    elif item["key"] != "header":
                        self._send(400, {"error": f"test hub does not support {item['key']}"})
                        return
                with state.lock:
                    for name in deleted:
                        repo.files.pop(name, None)
                    repo.files.update(added)
                    sha = hashlib.sha1(repr((repo.sha, sorted(added), sorted(deleted))).encode()).hexdigest()
                    repo.commits.append(sha)
                host = self.headers["Host"]
                self._send(
                    200,
                    {
                        "success": True,
                        "commitOid": sha,
                        "commitUrl": f"http://{host}/{repo_id}/commit/{sha}",
                        "pullRequestUrl": None,
                    },
                )
                return
            self._unknown()

        def _resolve(self, head: bool) -> None:
            # /{org}/{name}/resolve/{revision}/{path...}
            parts = unquote(urlsplit(self.path).path).split("/")
            if len(parts) < 6 or parts[3] != "resolve":
                self._unknown()
                return
            repo = state.repos.get(f"{parts[1]}/{parts[2]}")
            if repo is None:
                self._send(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}, head)
                return
            filename = "/".join(parts[5:])
            if filename not in repo.files:
                self._send(404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"}, head)
                return
            content = repo.files[filename]
            etag = hashlib.sha1(content).hexdigest()
            self._send(200, content, {"X-Repo-Commit": repo.sha, "ETag": f'"{etag}"'}, head)

        def do_HEAD(self) -> None:
            self._resolve(head=True)

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            parts = path.split("/")
            # /api/models/{org}/{name}[/revision/{rev}]: repo info
            if len(parts) >= 5 and parts[1:3] == ["api", "models"]:
                repo_id = f"{parts[3]}/{parts[4]}"
                repo = state.repos.get(repo_id)
                if repo is None:
                    self._send(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
                    return
                self._send(
                    200,
                    {
                        "id": repo_id,
                        "modelId": repo_id,
                        "sha": repo.sha,
                        "private": repo.private,
                        "siblings": [{"rfilename": name} for name in sorted(repo.files)],
                    },
                )
                return
            self._resolve(head=False)

    return Handler


class HubServer:
    """`with HubServer(token) as hub:` — serves on 127.0.0.1 at a free port; `hub.url` is the HF_ENDPOINT."""

    def __init__(self, token: str = "hf_test_token") -> None:
        self.state = HubState(token)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.state))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> HubServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
