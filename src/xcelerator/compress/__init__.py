"""Making the user's own network smaller and faster: a pruning space derived from any
``nn.Module`` (``prune``), the evaluator that fine-tunes and measures candidates
(``evaluator``) and ``xc.optimize`` (``core``)."""
