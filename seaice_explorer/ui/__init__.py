"""The dashboard, in layers (no backend is named here: they come from :mod:`seaice_explorer.registry`):

- :mod:`.state`: the settings and actions of a page (``param``, no Panel), with :mod:`.bounds`
  (which bounds modes the selected backends can apply) and :mod:`.jobs` (generation jobs, the
  results cache, a page's queue);
- :mod:`.service`: the server's one generation service, a queue per page served round robin (no Panel);
- :mod:`.analysis`: what is shown, computed from ``seaice_explorer.stats`` (no Panel);
- :mod:`.texts`: the plain-language texts a teacher can read aloud and the tabs' names; :mod:`.timing`:
  the live cost of the last generation;
- :mod:`.layout`: how large the maps are drawn, from the window and presentation mode (no Panel);
- :mod:`.tour`: the guided tour behind one seam (``tour.mount``), made once per server;
- the Panel views: :mod:`.sidebar`, :mod:`.maps_view`, :mod:`.tabs` (the analysis tabs and lazy
  tabs), :mod:`.denoise_view`, :mod:`.header` (presentation, the view as a PNG, the presenter's keys,
  and what a mounted part adds) and :mod:`.presentation` (the browser's size and presentation mode);
  :mod:`.session` holds the per-server resources and a page's wiring.
"""
