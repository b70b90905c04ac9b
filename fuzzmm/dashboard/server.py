"""`fuzzmm dashboard`: a Flask app over one corpus store, served on the loopback by default.

Routes: `/` the page; `/live` its live part, which the page fetches every REFRESH_MS; `/api/state`
the same as JSON; `/swimlane/ID.svg` a reproducer's swimlane, replayed once and kept;
`/static/...` the page's own style sheet and script.  All of it comes from this package.
"""
import json
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


def serve(store, host, port, announce, refresh_ms=REFRESH_MS):
    """Serve the dashboard until interrupted; `announce(url)` is told where, once listening."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args, **kwargs):     # a page asks every 2 s: no line on stderr each time
            pass
    app = create_app(store, refresh_ms)
    try:
        server = make_server(host, port, app, threaded=True, request_handler=Quiet)
    except OSError as exc:
        raise FuzzmmError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    shown = f"[{host}]" if ":" in host else host
    announce(f"http://{shown}:{server.server_port}/")
    try:
        server.serve_forever()
    finally:
        server.server_close()
