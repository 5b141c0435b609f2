"""MusiCNN (Pons & Serra, 2019) in PyTorch, from the checkpoints the ``musicnn`` package ships."""
