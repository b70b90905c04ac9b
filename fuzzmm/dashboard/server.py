"""`fuzzmm dashboard`: a Flask app over one corpus store, served on the loopback by default.

Routes: `/` the page; `/live` its live part, which the page fetches every REFRESH_MS; `/api/state`
the same as JSON; `/swimlane/ID.svg` a reproducer's swimlane, replayed once and kept;
`/static/...` the page's own style sheet and script.  All of it comes from this package.
"""
import json
import socket
import socketserver
import threading

from fuzzmm.errors import FuzzmmError

REFRESH_MS = 2000


def create_app(store, refresh_ms=REFRESH_MS, draw=None):
    """The Flask app showing `store` (a DirectoryStore or RedisStore)."""
    try:
        from flask import Flask, Response, abort
    except ImportError:
        raise FuzzmmError("the dashboard needs Flask: pip install 'fuzzmm[dashboard]'") from None
    from fuzzmm.dashboard import pages, swimlanes
    from fuzzmm.dashboard.view import gather

    app = Flask("fuzzmm.dashboard", static_folder=pages.STATIC, static_url_path="/static")
    cache = swimlanes.Cache(draw or swimlanes.in_child)
    latest = {"reproducers": {}}
    lock = threading.Lock()

    def view():
        gathered = gather(store)
        with lock:
            latest["reproducers"] = gathered["reproducers"]
        return gathered

    @app.route("/")
    def index():
        return pages.dashboard(view(), refresh_ms)

    @app.route("/live")
    def live():
        return Response(pages.live(view()), headers={"Cache-Control": "no-store"})

    @app.route("/api/state")
    def state():
        gathered = view()
        doc = {"where": gathered["where"], "now": gathered["now"], "machines": gathered["machines"],
               "campaigns": gathered["campaigns"],
               "findings": [{"key": g.key, "model": g.model, "by_bug": g.by_bug, "kinds": sorted(g.kinds),
                             "signatures": sorted(g.signatures), "variants": sorted(g.variants), "count": g.count,
                             "first_seen": g.first_seen, "last_seen": g.last_seen, "machines": sorted(g.machines),
                             "jobs": g.jobs, "reproducers": [{"id": r.id, "where": r.where, "scenario": r.scenario,
                                                              "replay": r.replay} for r in g.reproducers]}
                            for g in gathered["findings"]]}
        return Response(json.dumps(doc), mimetype="application/json", headers={"Cache-Control": "no-store"})

    @app.route("/swimlane/<rid>.svg")
    def swimlane(rid):
        with lock:
            reproducer = latest["reproducers"].get(rid)
        if reproducer is None:
            reproducer = view()["reproducers"].get(rid)
        if reproducer is None:
            abort(404)
        drawn = cache.get(rid, reproducer.entry)
        if drawn.svg is None:
            return Response(drawn.error, status=422, mimetype="text/plain")
        return Response(drawn.svg, mimetype="image/svg+xml", headers={"Cache-Control": "max-age=3600"})

    return app


def listen(host, port):
    """A socket listening on `host`:`port` (0: a free port), or FuzzmmError saying why not.

    The dashboard binds its socket itself and hands it to werkzeug, whose own binding prints
    its reason and exits 1 on a port in use or an address not of this machine."""
    from werkzeug.serving import select_address_family
    family = select_address_family(host, port)
    try:
        address = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, socket.IPPROTO_TCP)[0][4]
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)     # as werkzeug's own server does
            sock.bind(address)
            sock.listen(socketserver.TCPServer.request_queue_size)
        except BaseException:
            sock.close()
            raise
    except OSError as exc:
        raise FuzzmmError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def serve(store, host, port, announce, refresh_ms=REFRESH_MS):
    """Serve the dashboard until interrupted; `announce(url)` is told where, once listening."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args, **kwargs):     # a page asks every 2 s: no line on stderr each time
            pass
    app = create_app(store, refresh_ms)
    with listen(host, port) as sock:        # the server works on its own duplicate of the socket
        server = make_server(host, port, app, threaded=True, request_handler=Quiet, fd=sock.fileno())
    shown = f"[{host}]" if ":" in host else host
    announce(f"http://{shown}:{server.port}/")
    try:
        server.serve_forever()
    finally:
        server.server_close()
