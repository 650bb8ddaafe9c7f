"""The dashboard, in layers:

- :mod:`.state`: settings, actions, the result cache and the worker plumbing (``param``, no Panel);
- :mod:`.analysis`: what is shown, computed from ``seaice_explorer.stats`` (no Panel);
- :mod:`.texts`: the plain-language texts a teacher can read aloud;
- :mod:`.views` and :mod:`.tabs`: the Panel ``Viewer`` classes (the only modules importing Panel).
"""
