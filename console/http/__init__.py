"""The HTTP surfaces of ``dutydesk serve``: ack links, the gateway's inbound replies, health.

Starlette on uvicorn (:mod:`console.http.server`), part of the shell: it calls the domains'
functions and runs the engine beside the routes. The hub's routes for the units below, built in
``uplink/`` (protocol, outbox, CAP, directives), will be mounted here beside them.
"""
