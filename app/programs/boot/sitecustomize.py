"""Runs first in every Python process of a traced program (this directory
is on its ``PYTHONPATH``): installs the tracer when ``CONCVIZ_TRACE_FIFO``
is set, then runs the ``sitecustomize`` this one hides, if any (the one
found further on ``sys.path``)."""


def _install() -> None:
    import os

    if os.environ.get("CONCVIZ_TRACE_FIFO"):
        from concviz_tracer.startup import install

        install()


def _chain() -> None:
    import importlib.machinery
    import importlib.util
    import os
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    places = [os.path.abspath(p or os.curdir) for p in sys.path]
    rest = sys.path[places.index(here) + 1 :] if here in places else sys.path
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


try:
    _install()
except Exception as e:  # the program runs on, untraced
    import sys

    sys.stderr.write(f"concviz: the tracer could not start: {e!r}\n")
_chain()
