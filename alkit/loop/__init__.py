"""The loop: the ledger (every SQL statement of alkit), the project (one state machine for
select, stage, annotate, train, evaluate, record), the round configuration (a query, a recipe,
a seed), experiments of many projects on equal terms (simulate: the benchmark), and the starter
experiment with its report; production monitoring (monitor: batches, drift, the report); the
label audit (audit: a round's labels against the model that did not train on them, the report).
"""
