#!/usr/bin/env python3
"""The PizzaShack example's backend (examples/pizzashack.yaml points at http://localhost:8080/pizzashack).

    python3 examples/pizzashack_backend.py [PORT]        (default 8080; Python's standard library only)

GET  /pizzashack/menu            the menu, as JSON
POST /pizzashack/order           an order (any JSON body): 201 with the order and its id
GET  /pizzashack/order/{id}      an order placed before
DELETE /pizzashack/order/{id}    cancels it
Anything else is a 404 with a JSON body; every request is logged on stderr.
"""

import itertools
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MENU = [
    {"name": "Margherita", "description": "Tomato, mozzarella and basil", "price": "9.50"},
    {"name": "Marinara", "description": "Tomato, garlic and oregano", "price": "7.50"},
    {"name": "Quattro Formaggi", "description": "Four cheeses", "price": "11.00"},
]
ORDERS = {}
NEXT = itertools.count(1)


class Handler(BaseHTTPRequestHandler):
    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def order_id(self):
        prefix = "/pizzashack/order/"
        return self.path.split("?")[0][len(prefix):] if self.path.startswith(prefix) else None

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/pizzashack/menu":
            return self.answer(200, MENU)
        oid = self.order_id()
        if oid in ORDERS:
            return self.answer(200, ORDERS[oid])
        self.answer(404, {"error": f"nothing at {path}"})

    def do_POST(self):
        if self.path.split("?")[0] != "/pizzashack/order":
            return self.answer(404, {"error": f"nothing at {self.path}"})
        length = int(self.headers.get("content-length") or 0)
        try:
            order = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return self.answer(400, {"error": "the order is not JSON"})
        oid = str(next(NEXT))
        ORDERS[oid] = {"orderId": oid, **(order if isinstance(order, dict) else {"items": order})}
        self.answer(201, ORDERS[oid])

    def do_DELETE(self):
        oid = self.order_id()
        if oid in ORDERS:
            return self.answer(200, ORDERS.pop(oid))
        self.answer(404, {"error": f"no order {oid}"})


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
    print(f"PizzaShack backend on http://localhost:{port}/pizzashack (Ctrl-C stops it)", file=sys.stderr)
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
