"""The ``mlops`` command line: scripts every main action of the dashboard."""
