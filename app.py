"""seaice-explorer dashboard: ``panel serve app.py``. (Placeholder until the dashboard lands.)"""
