"""The HTTP surfaces of ``dutydesk serve``: ack links, the gateway's inbound replies, health.

Starlette on uvicorn (:mod:`console.http.server`). The hub's routes for the units below will be
mounted here beside them.
"""
