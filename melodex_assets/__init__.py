"""Thin asset definitions, one module per stage; the work lives in melodex_ml.stages.

Stage modules are imported inside asset bodies: the code location then loads in about a second,
and torch, MLflow and TensorFlow are imported only by the runs that use them.
"""
