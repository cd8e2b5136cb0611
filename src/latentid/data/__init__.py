"""Data: the shared reader, the true prior, the mixing network and the simulator."""
