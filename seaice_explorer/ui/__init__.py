"""The dashboard, in layers (no backend is named here: they come from :mod:`seaice_explorer.registry`):

- :mod:`.state`: the settings and actions of a session (``param``, no Panel), with :mod:`.bounds`
  (which bounds modes the selected backends can apply) and :mod:`.jobs` (generation jobs, the
  worker, cancellation and the results cache);
- :mod:`.analysis`: what is shown, computed from ``seaice_explorer.stats`` (no Panel);
- :mod:`.texts`: the plain-language texts a teacher can read aloud; :mod:`.timing`: the live cost
  of the last generation;
- :mod:`.layout`: how large the maps are drawn, from the window and presentation mode (no Panel);
- :mod:`.tour` and :mod:`.story`: the guided tour's stops and its words, with the numbers of the
  evaluation reports (no Panel);
- the Panel views: :mod:`.sidebar`, :mod:`.maps_view`, :mod:`.tabs` (the analysis tabs and lazy
  tabs), :mod:`.denoise_view`, :mod:`.tour_view` (the tour's card), :mod:`.header` (tour,
  presentation, the view as a PNG, the presenter's keys) and :mod:`.presentation` (the browser's
  size and presentation mode); :mod:`.session` holds the per-server resources and session wiring.
"""
