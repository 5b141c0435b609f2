"""Thin asset definitions, one module per stage; the work lives in melodex_ml.stages."""
