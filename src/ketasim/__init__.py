"""ketasim: a quantitative model of ketamine's putative antidepressant mechanism."""
__version__ = "0.1.0"
