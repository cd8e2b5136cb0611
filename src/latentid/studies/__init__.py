"""Studies: declarative sweeps over data settings, models and seeds, and the store of their results.

``latentid.studies.spec`` reads a study file (TOML) into a ``Study`` and expands it into ``RunConfig``s;
``latentid.studies.store`` keeps one row per finished, failed or skipped run in one SQLite file.
Nothing is imported here, so that the light store does not pull in the models.
"""
