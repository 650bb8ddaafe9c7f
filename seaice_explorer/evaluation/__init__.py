"""Evaluation: a generated set against a reference set, computed in one place.

- :mod:`.compare`: the one comparison layer (set summaries, scores against a reference summary),
  used by ``evaluate``, the findings and the dashboard;
- :mod:`.features`, :mod:`.weighted`, :mod:`.bootstrap`: per-state features, every score as a function
  of resampling weights, bootstrap intervals, paired effects, the noise floor and baselines;
- :mod:`.rules`, :mod:`.verdicts`: decision rules that can fail, and the three findings of Finn et al.
  2024 judged as paired effects with intervals (``findings.json``);
- :mod:`.findings`: the superseded point rules, kept for the tour's reading of a report's table;
- :mod:`.samples`: backend/bounds settings, the sample cache, the ``clamp`` projection;
- :mod:`.report`: the report folder (tables with intervals, maps, README);
- :mod:`.evaluate`: ``evaluate()`` and the ``seaice-explorer evaluate`` command;
- :mod:`.stats_cli`: the ``seaice-explorer stats`` command;
- :mod:`.baselines`, :mod:`.assimilation_scores`: observation-guided ensembles (issue 22) against the
  climatological ensemble and deterministic inpainting, with proper ensemble scores over held-out days.
"""
