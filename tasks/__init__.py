"""Built-in tasks (installed as ``colorbench.tasks``), registered through the task hook."""
