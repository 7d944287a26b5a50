"""Scheduled reconciliation (DESIGN.md section 9): the worker process and its tasks."""
