"""The built-in demo as a library: ``run_demo("molops-demo")`` runs the loop built so far (data,
models, a campaign, the service, monitoring) on data that ships with the install, returns a
:class:`DemoResult` and reports its steps to a :class:`DemoReporter` (``TextReporter()`` prints
them; the CLI prints them with rich). It uses every layer, so it sits beside ``cli``, above
``serving``; nothing imports it but ``cli``.

Also the files the demo uses (made up for molops; not copied from any dataset).
"""

from molops.demo.reporting import DemoReporter, Silent, TextReporter
from molops.demo.run import PARTS, DemoResult, run_demo

__all__ = ["PARTS", "DemoReporter", "DemoResult", "Silent", "TextReporter", "run_demo"]
