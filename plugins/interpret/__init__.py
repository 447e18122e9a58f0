"""Interpretability plugin: the paper's neuron analyses and ECLIP similarity maps."""
