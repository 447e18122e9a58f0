"""The plugin protocol: the hooks, the plugin manager and registries, and the contracts a
plugin implements (model adapters, tasks, analyses). Plugin authors import from here."""
