"""Error hierarchy: every user mistake is a KetasimError, shown by the CLI as one line with exit code 2."""


class KetasimError(Exception):
    """Base class for errors caused by user input; the message says what is wrong and how to fix it."""


class UnitError(KetasimError):
    """A quantity whose number or unit cannot be understood."""


class UnknownNameError(KetasimError):
    """A drug, route, species, regimen, hypothesis, node or key that ketasim does not know."""


class DoseError(KetasimError):
    """A dose that is zero, negative, absurd, or needs a body weight that is missing."""


class ScenarioError(KetasimError):
    """A scenario, trial or data file that is malformed or inconsistent."""


class DataError(KetasimError):
    """A packaged data file that breaks its schema (a bug in ketasim's data, not the user's input)."""
