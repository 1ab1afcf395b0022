"""MLflow's tracking store over runstream, in parts: the state and helpers every part
shares (:mod:`.core`), experiments (:mod:`.experiments`), runs with their params,
metrics and tags (:mod:`.runs`), and the store that combines them (:mod:`.store`).

Imports nothing at import time; load the store through
``runstream.integrations.mlflow.entry_points`` (see there why).
"""
