"""The dashboard, in two folders and two seams (no backend is named here: they come from
:mod:`seaice_explorer.registry`):

- :mod:`.model` (no Panel, tested in plain pytest): :mod:`.model.settings` (what a page's user
  chose: the recipe, the URL) and :mod:`.model.state` (its results and actions),
  :mod:`.model.bounds` (which bounds modes the selected backends can apply), :mod:`.model.jobs`
  (generation jobs, the results cache, a page's queue), :mod:`.model.service` (the server's one
  generation service, a queue per page served round robin), :mod:`.model.analysis` and
  :mod:`.model.download` (what is shown and downloaded, from ``seaice_explorer.evaluation``),
  :mod:`.model.texts` (the words a teacher can read aloud, the tab names), :mod:`.model.timing`;
- :mod:`.views` (Panel): :mod:`.views.sidebar`, :mod:`.views.maps_view`, :mod:`.views.tabs`,
  :mod:`.views.denoise_view`, :mod:`.views.header` (presentation, the view as a PNG, the
  presenter's keys, what a mounted part adds), :mod:`.views.layout` (map sizes) and
  :mod:`.views.presentation`;
- :mod:`.session`: the per-server resources and a page's wiring;
- :mod:`.tour`: the guided tour behind one seam (``tour.mount``), made once per server.
"""
