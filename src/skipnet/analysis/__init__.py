"""Analysis: evaluation, figures, run records, the study's declaration, statistics, verdicts, the report, predict."""
