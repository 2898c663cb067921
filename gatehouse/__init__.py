"""Gatehouse: the corporate security function in one self-hosted web application."""

__version__ = "0.1.0"
