"""A local App Store and Google Play for tests, benchmarks and the sandbox (DESIGN.md section 8)."""
