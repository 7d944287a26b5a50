"""Use cases: each reads like its story (load, decide with the domain, commit)."""
