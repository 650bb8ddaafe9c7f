"""The dashboard, in layers (no backend is named here: they come from :mod:`seaice_explorer.registry`):

- :mod:`.state`: the settings and actions of a session (``param``, no Panel), with :mod:`.bounds`
  (which bounds modes the selected backends can apply) and :mod:`.jobs` (generation jobs, the
  worker, cancellation and the results cache);
- :mod:`.analysis`: what is shown, computed from ``seaice_explorer.stats`` (no Panel);
- :mod:`.texts`: the plain-language texts a teacher can read aloud;
- the Panel views: :mod:`.sidebar`, :mod:`.maps_view`, :mod:`.tabs` (the analysis tabs and lazy
  tabs), :mod:`.denoise_view`; :mod:`.session` holds the per-server resources and session wiring.
"""
