"""Trial defaults that the CLI needs without importing the statistics stack."""

#: subjects per simulate() call unless the caller says otherwise: measured best for the BDF solver
#: (CPU ms per subject over 28 days of esketamine: 154 at 25, 61 at 100, 51 at 200-300, 168 at 400)
DEFAULT_CHUNK = 200
