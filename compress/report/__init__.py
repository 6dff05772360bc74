"""Reports for people: terminal tables, plots, and report.md / report.html of a run."""
