"""CI/CD logic behind .github/workflows: each script runs in Actions and, offline, on a laptop."""
