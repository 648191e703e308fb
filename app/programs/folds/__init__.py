"""The fold's handlers (`app.programs.model`), one module per kind of thing
a traced program is made of: its threads and processes, its queues and
pipes, its locks and other sync objects, its pools, its console, and the
run around it."""
