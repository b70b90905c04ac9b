"""What people look at: the live dashboard (`fuzzmm dashboard`) and the static report (`fuzzmm report`).

Both read a corpus store, a directory or Redis: the campaigns that publish their state there
(fuzzmm.publish) and the corpus entries.  `view` turns these into what a page shows (machines,
jobs, findings grouped by bug), `plots` draws coverage and runs/s over time as SVG,
`swimlanes` replays a corpus entry for its swimlane SVG, `pages` renders the HTML from the
templates and styles of this package, and `server` serves it with Flask.  Nothing is fetched
from the network: the page's script, styles and plots all come from here.
"""
