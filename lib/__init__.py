"""Scaling Universality: the tested library every chapter of the book calls."""
