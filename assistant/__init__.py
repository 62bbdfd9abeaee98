"""Policy Q&A assistant: cited answers over district planning reports."""

__version__ = "0.1.0"
