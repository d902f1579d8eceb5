"""The book's runner: execute chapters with papermill, cache, stage, build (python -m lib.book)."""
