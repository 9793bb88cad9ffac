"""Story Monitor: watch news feeds for one developing story and alert on what is new."""

__version__ = "0.1.0"
