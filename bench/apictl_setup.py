#!/usr/bin/env python3
"""Fills a running all-in-one node for bench/apictl.sh through its REST API (standard library only).

    apictl_setup.py MGMT_URL COUNT

Creates COUNT APIs (BenchApi0001 … with five operations, a description, two tags, a backend URL), each
with a revision deployed to the Default gateway, so `export apis --all` exports a latest revision of each and an
import makes and deploys a revision again. Two keep-alive connections (this machine has two cores).
"""

import base64
import concurrent.futures
import http.client
import json
import ssl
import sys
import threading
import urllib.parse

BASE = sys.argv[1]
COUNT = int(sys.argv[2])
AUTH = "Basic " + base64.b64encode(b"admin:admin").decode()
PB = "/api/am/publisher/v4"
_local = threading.local()


def call(method, path, body=None):
    if not hasattr(_local, "c"):
        u = urllib.parse.urlsplit(BASE)
        _local.c = http.client.HTTPSConnection(u.hostname, u.port, context=ssl._create_unverified_context(), timeout=60)
    h = {"authorization": AUTH}
    data = None
    if body is not None:
        data = json.dumps(body)
        h["content-type"] = "application/json"
    _local.c.request(method, path, data, h)
    r = _local.c.getresponse()
    text = r.read().decode()
    if r.status >= 300:
        raise SystemExit(f"{method} {path}: {r.status} {text}")
    return json.loads(text) if text else None


def api(i):
    ops = [{"target": "/items", "verb": "GET"}, {"target": "/items", "verb": "POST"}, {"target": "/items/{id}", "verb": "GET"},
           {"target": "/items/{id}", "verb": "PUT"}, {"target": "/items/{id}", "verb": "DELETE"}]
    a = call("POST", f"{PB}/apis", {
        "name": f"BenchApi{i:04d}", "context": f"/bench{i:04d}", "version": "1.0.0", "policies": ["Unlimited"],
        "description": "An API of the apictl benchmark. " * 8, "tags": ["bench", f"group{i % 10}"],
        "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": f"http://127.0.0.1:9/{i}"}},
        "operations": ops,
    })
    rev = call("POST", f"{PB}/apis/{a['id']}/revisions", {"description": "bench"})
    call("POST", f"{PB}/apis/{a['id']}/deploy-revision?revisionId={rev['id']}", [{"name": "Default", "displayOnDevportal": True}])


with concurrent.futures.ThreadPoolExecutor(2) as pool:
    list(pool.map(api, range(1, COUNT + 1)))
