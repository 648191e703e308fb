"""Workers on other machines joining a running run (issue 17: a queue
between machines).

::

    student's laptop: concviz worker --join URL         presenter's concviz (one process)
    --------------------------------------------         ---------------------------------
    GET  /join/<run>/<token>  ------------------------>  the run's program, its file name,
      <- program, roles, REDIS_URL, server's clock         roles, REDIS_URL (the run's own
    POST .../events {worker, host, role, events: []}        Redis database), monotonic_ns
      <- its label on the stage ("alice/consumer")       a joined worker registered (at most
    python FILE ROLE LABEL under this laptop's tracer      MAX_JOINED a run), labelled
      (app.programs: own session, own temp dir,          each batch validated (wire), then
       limits) -- raw events --> bounded queue           translated (translate: labels under
    sender thread: POST .../events, in order  ------->   the host's, the clock shifted, keys
      <- speed; 403 revoked, 410 the run ended           on the run's Redis server) and
    Ctrl-C, revoke, run end: SIGTERM, grace, SIGKILL;    folded by Run.ingest on the loop
      last batch says it leaves; temp dir removed        silent or revoked: shown ended

The program is the lesson's own (`Experiment.joins` names the roles it
takes as arguments), so a joined worker is the same code as the lesson's
workers; it talks to the run's Redis server directly, with the password
that the join hands out (under ``--lan`` the embedded server listens on
every interface, never without one).

`wire` is the protocol both ends share, `translate` the pure translation
of a joined worker's events, `desk` a run's joining (its token, its joined
workers), `worker` the command a student runs. The routes are in
`app.web.joins`.
"""
