"""An in-memory stand-in for a ClearML server, files server and agents, for tests (like moto for AWS).

Start it with ``python -m tests.clearml_standin --dir DIR --queues cpu,gpu,services`` or the pytest fixture in
:mod:`tests.clearml_standin.fixtures`. It is test infrastructure, not product code: it implements only the
endpoints that clearml==2.1.12, clearml-agent==3.0.3 and this project call, following clearml-server's schema.
"""
