"""Evaluation: a generated set against a reference set, computed in one place.

- :mod:`.compare`: the one comparison layer (set summaries, scores against a reference summary),
  used by ``evaluate``, the findings and the dashboard;
- :mod:`.findings`: verdicts on the three findings of Finn et al. 2024 from an evaluation table;
- :mod:`.report`: the report folder (tables, maps, README);
- :mod:`.evaluate`: the ``seaice-explorer evaluate`` command;
- :mod:`.stats_cli`: the ``seaice-explorer stats`` command.
"""
