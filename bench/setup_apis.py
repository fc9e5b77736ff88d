#!/usr/bin/env python3
"""Loads a running all-in-one node for the gateway benchmark through its REST APIs (standard library only).

    setup_apis.py MGMT_URL BACKEND_URL [EXTRA_APIS] [EXTRA_APPS]

Creates throttling policies that are never reached (application 'BenchApp', subscription 'BenchSub', both a
billion requests a minute), the API /bench/1.0.0 in front of BACKEND_URL, the API product /benchprod/1.0.0 serving
its `GET /*`, an application subscribed to both with keys, and prints a JWT for it on stdout. With EXTRA_APIS and EXTRA_APPS it then adds that many more deployed
and published APIs and applications, each application subscribed to every extra API (so EXTRA_APIS x EXTRA_APPS
subscriptions), to measure the gateway at size.
"""

import base64
import concurrent.futures
import http.client
import json
import os
import ssl
import sys
import threading
import urllib.parse

BASE = sys.argv[1]
BACKEND = sys.argv[2]
EXTRA_APIS = int(sys.argv[3]) if len(sys.argv) > 3 else 0
EXTRA_APPS = int(sys.argv[4]) if len(sys.argv) > 4 else 0
AUTH = "Basic " + base64.b64encode(b"admin:admin").decode()
PB, DP, AD = "/api/am/publisher/v4", "/api/am/devportal/v3", "/api/am/admin/v4"

_local = threading.local()


def conn():
    if not hasattr(_local, "c"):
        u = urllib.parse.urlsplit(BASE)
        ctx = ssl._create_unverified_context()
        _local.c = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=60)
    return _local.c


def call(method, path, body=None, headers=None, form=None, files=None):
    h = {"authorization": AUTH}
    data = None
    if files is not None:
        boundary = "benchboundary7MA4YWxkTrZu0gW"
        parts = [f'--{boundary}\r\ncontent-disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in files.items()]
        data = "".join(parts) + f"--{boundary}--\r\n"
        h["content-type"] = f"multipart/form-data; boundary={boundary}"
    elif form is not None:
        data = urllib.parse.urlencode(form)
        h["content-type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body)
        h["content-type"] = "application/json"
    h.update(headers or {})
    for attempt in range(3):
        try:
            c = conn()
            c.request(method, path, data, h)
            r = c.getresponse()
            text = r.read().decode()
            break
        except (http.client.HTTPException, OSError):
            del _local.c
            if attempt == 2:
                raise
    if r.status >= 300:
        raise SystemExit(f"{method} {path}: {r.status} {text}")
    return json.loads(text) if text else None


def policy(level, name, count):
    limit = {"type": "REQUESTCOUNTLIMIT", "requestCount": {"timeUnit": "min", "unitTime": 1, "requestCount": count}}
    call("POST", f"{AD}/throttling/policies/{level}", {"policyName": name, "defaultLimit": limit})


def api(name, context, backend, mediation=None):
    ops = [{"target": "/*", "verb": "GET"}, {"target": "/items/{id}", "verb": "GET"}, {"target": "/orders", "verb": "POST"}]
    if mediation:
        ops[0]["operationPolicies"] = mediation
    a = call("POST", f"{PB}/apis", {
        "name": name, "context": context, "version": "1.0.0", "policies": ["BenchSub"],
        "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": backend}},
        "operations": ops,
    })
    rev = call("POST", f"{PB}/apis/{a['id']}/revisions", {"description": "bench"})
    call("POST", f"{PB}/apis/{a['id']}/deploy-revision?revisionId={rev['id']}", [{"name": "Default", "displayOnDevportal": True}])
    call("POST", f"{PB}/apis/change-lifecycle?action=Publish&apiId={a['id']}")
    return a["id"]


ORDERS = {"openapi": "3.0.1", "info": {"title": "BenchOrders", "version": "1.0.0"}, "paths": {"/count": {"post": {
    "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Order"}}}},
    "responses": {"200": {"description": "counted"}}}}},
    "components": {"schemas": {
        "Order": {"type": "object", "required": ["items"], "properties": {
            "items": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/Item"}},
            "note": {"type": "string", "maxLength": 200}}},
        "Item": {"type": "object", "required": ["sku", "qty"], "additionalProperties": False, "properties": {
            "sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]+$"}, "qty": {"type": "integer", "minimum": 1}}}}}}


def imported(name, context, backend, validate):
    """An API from the orders OpenAPI document (POST /count), with or without WSO2's enableSchemaValidation."""
    props = {"name": name, "context": context, "policies": ["BenchSub"], "enableSchemaValidation": validate,
             "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": backend}}}
    a = call("POST", f"{PB}/apis/import-openapi", files={"file": json.dumps(ORDERS), "additionalProperties": json.dumps(props)})
    rev = call("POST", f"{PB}/apis/{a['id']}/revisions", {"description": "bench"})
    call("POST", f"{PB}/apis/{a['id']}/deploy-revision?revisionId={rev['id']}", [{"name": "Default", "displayOnDevportal": True}])
    call("POST", f"{PB}/apis/change-lifecycle?action=Publish&apiId={a['id']}")
    return a["id"]


def app(name):
    return call("POST", f"{DP}/applications", {"name": name, "throttlingPolicy": "BenchApp", "tokenType": "JWT"})["applicationId"]


def subscribe(api_id, app_id):
    call("POST", f"{DP}/subscriptions", {"apiId": api_id, "applicationId": app_id, "throttlingPolicy": "BenchSub"})


def main():
    if EXTRA_APIS == 0:
        policy("application", "BenchApp", 1_000_000_000)
        policy("subscription", "BenchSub", 1_000_000_000)
        api_id = api("Bench", "/bench", BACKEND)
        app_id = app("BenchApp")
        keys = call("POST", f"{DP}/applications/{app_id}/generate-keys",
                    {"keyType": "PRODUCTION", "grantTypesToBeSupported": ["client_credentials"]})
        subscribe(api_id, app_id)
        # The same backend path reached through two operation policies: a request header added, the resource
        # path rewritten (the endpoint is the backend's root).
        root = BACKEND.split("/bytes/")[0]
        if os.environ.get("BENCH_NO_POLICIES"):
            # A build without operation policies (before/after runs): the same API and answer, no policy.
            mediated = api("BenchPolicies", "/benchpol", BACKEND)
        else:
            mediated = api("BenchPolicies", "/benchpol", root, {"request": [
                {"policyName": "addHeader", "parameters": {"headerName": "X-Bench", "headerValue": "policy"}},
                {"policyName": "rewriteResourcePath", "parameters": {"newResourcePath": "/bytes/1024"}}]})
        subscribe(mediated, app_id)
        # An API product serving the bench API's `GET /*` at its own context, with its own subscription (left
        # out with BENCH_NO_PRODUCT: a build from before products, for before/after runs).
        if not os.environ.get("BENCH_NO_PRODUCT"):
            product = call("POST", f"{PB}/api-products", {"name": "BenchProduct", "context": "/benchprod", "policies": ["BenchSub"],
                                                     "apis": [{"apiId": api_id, "operations": [{"target": "/*", "verb": "GET"}]}]})
            rev = call("POST", f"{PB}/api-products/{product['id']}/revisions", {"description": "bench"})
            call("POST", f"{PB}/api-products/{product['id']}/deploy-revision?revisionId={rev['id']}", [{"name": "Default"}])
            call("POST", f"{PB}/api-products/change-lifecycle?action=Publish&apiProductId={product['id']}")
            subscribe(product["id"], app_id)
        # 1 KiB JSON bodies POSTed to the backend's counter, without and with schema validation.
        for name, context, validate in [("BenchPost", "/benchpost", False), ("BenchSchema", "/benchschema", True)]:
            subscribe(imported(name, context, root, validate), app_id)
        creds = base64.b64encode(f"{keys['consumerKey']}:{keys['consumerSecret']}".encode()).decode()
        tok = call("POST", "/oauth2/token", form={"grant_type": "client_credentials"}, headers={"authorization": "Basic " + creds})
        print(tok["access_token"])
        return
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        api_ids = list(pool.map(lambda i: api(f"Svc{i}", f"/svc{i}", BACKEND), range(EXTRA_APIS)))
        app_ids = list(pool.map(lambda i: app(f"Load{i}"), range(EXTRA_APPS)))
        list(pool.map(lambda p: subscribe(*p), [(a, b) for a in api_ids for b in app_ids]))
    print(f"{len(api_ids)} APIs, {len(app_ids)} applications, {len(api_ids) * len(app_ids)} subscriptions added", file=sys.stderr)


main()
