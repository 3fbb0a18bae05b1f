"""`chalice local` with a listen backlog sized for many concurrent clients.

Chalice's dev server inherits socketserver's default backlog of 5 pending connections; with 20+
clients connecting at once the surplus connections are reset before the server accepts them. Its
handler also leaves Nagle's algorithm on, which delays every keep-alive response by ~40 ms.
Everything else is chalice's own CLI: `python scripts/chalice_local.py local --port 8000 ...`.
"""
import sys

from chalice import local
from chalice.cli import main

local.ThreadedHTTPServer.request_queue_size = 128
# Keep-alive responses otherwise wait ~40 ms for Nagle's algorithm and the client's delayed ACK.
local.ChaliceRequestHandler.disable_nagle_algorithm = True

if __name__ == "__main__":
    sys.argv[0] = "chalice"
    sys.exit(main())
