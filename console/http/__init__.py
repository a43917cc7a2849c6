"""The HTTP surfaces of ``dutydesk serve``: ack links, the gateway's inbound replies, health.

Starlette on uvicorn (:mod:`console.http.server`), part of the shell: it calls the domains'
functions and runs the engine beside the routes, on one listener or two (the gateway's replies
on their own address), each with the timeouts and connection cap of :mod:`console.http.limits`
and the rate limiter of :mod:`console.http.guard`. The hub's routes for the units below, built
in ``uplink/`` (protocol, outbox, CAP, directives), will be mounted here beside them.
"""
