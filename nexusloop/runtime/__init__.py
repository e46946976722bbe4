"""The nexus runtime layer (in progress): spawn / JoinHandle / slab, time, cancellation."""
