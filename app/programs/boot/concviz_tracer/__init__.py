"""The tracer that runs inside a traced program (standard library only).

It imports as ``concviz_tracer`` in the program and as
``app.programs.boot.concviz_tracer`` in the server; nothing here imports
``app``. Importing the package installs nothing: ``install()`` does.
"""
