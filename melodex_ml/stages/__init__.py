"""Batch-level work of each pipeline stage, as plain functions the Dagster assets call.

Every stage reads its inputs from the store, computes outside any lock, then writes its
results, its failures and its outcome in short transactions (see melodex_ml.store).
"""
