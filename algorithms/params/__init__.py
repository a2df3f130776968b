"""Algorithm parameters, declared once: one pydantic model per algorithm (``anomaly``, ``prophet``, ``spell``,
``text``, ``yolo``) from which its form, its default search space and its resolved parameters are derived
(``model``), and the form machinery the catalog shares with it (``fields``, ``form``, ``space``, ``values``).

Light on purpose: pydantic and the standard library only (and ``algorithms.spell_parser``, itself standard
library), so the catalog can import it without the algorithms' dependencies (numpy, mlflow, torch...).
"""
