"""Put on ``PYTHONPATH`` for a traced program's run only: its ``sitecustomize``
installs the tracer in every Python process of the program."""
